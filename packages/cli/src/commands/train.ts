import { join } from 'node:path';
import { PeftModel, registry, saveAdapter, writeFileAtomic, type PeftConfigBase } from '@peftjs/core';
import type { BackendInfo } from '@peftjs/backend-node';
import type { PretrainedModel, PretrainedTokenizer } from '@peftjs/models';
import { Trainer, loadJsonlDataset, type Dataset, type TrainEvent, type TrainResult } from '@peftjs/train';
import type { CommandSpec, ParsedArgs } from '../args.js';
import { ensureBackend, loadBase, loadTok } from '../common.js';
import { UsageError, FailureError } from '../errors.js';
import type { Io } from '../main.js';
import { loadMethod } from '../methods.js';
import { Progress, type ProgressMode } from '../progress.js';
import { renderReport, type ReportInput } from '../report.js';
import { QUANTIZE_FLAGS, quantizeOption } from '../quantization.js';

export const TRAIN_FLAGS: CommandSpec['flags'] = [
  { name: 'model', type: 'string', description: 'Hugging Face model folder (config.json, model.safetensors, tokenizer.json)', required: true },
  { name: 'data', type: 'string', description: 'training data, JSONL of {"text"}, {"prompt","completion"}, {"messages"} or {"text","label"}', required: true },
  { name: 'method', type: 'string', description: 'PEFT method: lora, prompt, prefix, ptuning, adalora, adapter, or a package name', default: 'lora' },
  { name: 'out', type: 'string', description: 'output folder: adapter files, checkpoints, metrics.jsonl, report.html', required: true },
  { name: 'valid', type: 'string', description: 'validation JSONL (default: --val-split of the training data)' },
  { name: 'val-split', type: 'number', description: 'fraction of the training data held out when --valid is absent', default: 0.1 },
  { name: 'steps', type: 'number', description: 'optimizer steps (default: --epochs over the data)' },
  { name: 'epochs', type: 'number', description: 'passes over the training data', default: 1 },
  { name: 'batch-size', type: 'number', description: 'examples per micro-batch', default: 8 },
  { name: 'grad-accum', type: 'number', description: 'micro-batches per optimizer step', default: 1 },
  { name: 'lr', type: 'number', description: 'peak learning rate', default: 2e-4 },
  { name: 'schedule', type: 'string', description: 'learning-rate schedule: constant, linear or cosine', default: 'linear' },
  { name: 'warmup-steps', type: 'number', description: 'linear warmup steps', default: 0 },
  { name: 'weight-decay', type: 'number', description: 'AdamW decoupled weight decay', default: 0 },
  { name: 'max-grad-norm', type: 'number', description: 'global-norm clipping (0 = off)', default: 1 },
  { name: 'max-length', type: 'number', description: 'longest example in tokens (longer ones are cut and counted)', default: 128 },
  { name: 'eval-every', type: 'number', description: 'evaluate every N steps (and at the end)', default: 20 },
  { name: 'save-every', type: 'number', description: 'checkpoint every N steps (and at the end)', default: 100 },
  { name: 'patience', type: 'number', description: 'early stopping: evaluations without val_loss improvement (0 = off)', default: 0 },
  { name: 'seed', type: 'number', description: 'seed of initialisation, data order and dropout', default: 42 },
  { name: 'resume', type: 'boolean', description: 'resume from the last checkpoint in --out' },
  { name: 'backend', type: 'string', description: 'tfjs backend: auto, tensorflow, wasm or cpu', default: 'auto' },
  { name: 'json', type: 'boolean', description: 'one JSON event per line on stdout' },
  ...QUANTIZE_FLAGS,
];

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'fine-tune a model folder on a JSONL dataset with a PEFT method',
  usage: 'peft train --model DIR --data FILE.jsonl --method lora --out DIR [method options]',
  flags: TRAIN_FLAGS,
  passthrough: true,
};

export interface TrainFlags {
  model: string;
  data: string;
  method: string;
  out: string;
  valid?: string;
  valSplit: number;
  steps?: number;
  epochs: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  schedule: 'constant' | 'linear' | 'cosine';
  warmupSteps: number;
  weightDecay: number;
  maxGradNorm: number;
  maxLength: number;
  evalEvery: number;
  saveEvery: number;
  patience: number;
  seed: number;
  resume?: boolean;
  backend: string;
  json?: boolean;
  quantize?: string;
  doubleQuant?: string;
}

export interface TrainRun {
  backend: BackendInfo;
  base: PretrainedModel;
  tokenizer: PretrainedTokenizer;
  peft: PeftModel<any, any>;
  dataset: Dataset;
  events: TrainEvent[];
  result: TrainResult;
  trainableLine: string;
  config: PeftConfigBase;
  seconds: number;
}

/** Wraps bad-input failures (files, fields) as usage errors: exit code 2. */
async function asUsage<T>(what: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(what ? `${what}: ${(e as Error).message}` : (e as Error).message);
  }
}

/** Loads everything, checks every input, then trains. Shared by `train` and `demo`. */
export async function runTraining(
  f: TrainFlags,
  methodOptions: Record<string, unknown>,
  io: Io,
  hooks: { beforeTrain?: (run: Omit<TrainRun, 'result' | 'events' | 'seconds'>) => Promise<void> } = {},
): Promise<TrainRun> {
  if (!['constant', 'linear', 'cosine'].includes(f.schedule)) throw new UsageError(`--schedule must be constant, linear or cosine, got "${f.schedule}"`);
  for (const k of ['batchSize', 'gradAccum', 'maxLength', 'epochs'] as const) {
    if (!(Number.isInteger(f[k]) && f[k] > 0)) throw new UsageError(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a positive integer, got ${f[k]}`);
  }
  if (!(['auto', 'tensorflow', 'wasm', 'cpu'] as const).includes(f.backend as never)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got "${f.backend}"`);
  const backend = await ensureBackend(f.backend as 'auto');
  const mode: ProgressMode = f.json ? 'json' : io.isTTY ? 'tty' : 'plain';
  const say = (s: string) => (mode === 'json' ? undefined : io.out(s));
  say(`backend: ${backend.name}${backend.threads > 1 ? ` (${backend.threads} threads)` : ''} — ${backend.reason}`);

  const base = await loadBase(f.model, { quantize: quantizeOption(f) });
  const tokenizer = await loadTok(f.model);
  const dataset = await asUsage('', () =>
    loadJsonlDataset(f.data, tokenizer, { maxLength: f.maxLength, validation: f.valid ?? f.valSplit, seed: f.seed, warn: (m) => say(`warning: ${m}`) }),
  );
  const method = await loadMethod(f.method);
  const taskType = dataset.format === 'classification' ? 'SEQ_CLS' : 'CAUSAL_LM';
  const config = { peft_type: method.type, task_type: taskType, ...methodOptions } as PeftConfigBase;
  const peft = new PeftModel(base as never, { registry }) as PeftModel<any, any>;
  await asUsage(`--method ${f.method}`, () => peft.addAdapter('default', config));
  const trainableLine = peft.printTrainableParameters(say);
  say(`data: ${dataset.train.length} training and ${dataset.validation.length} validation examples (${dataset.format})${dataset.truncated ? `, ${dataset.truncated} truncated to ${f.maxLength} tokens` : ''}`);
  await hooks.beforeTrain?.({ backend, base, tokenizer, peft, dataset, trainableLine, config: peft.config() });

  const progress = new Progress(mode, io.write);
  const events: TrainEvent[] = [];
  const trainer = new Trainer({
    model: peft,
    trainData: dataset.train,
    evalData: dataset.validation.length ? dataset.validation : undefined,
    padTokenId: tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0,
    batchSize: f.batchSize,
    gradientAccumulationSteps: f.gradAccum,
    maxSteps: f.steps,
    epochs: f.epochs,
    learningRate: f.lr,
    adamw: { weightDecay: f.weightDecay },
    schedule: f.schedule,
    warmupSteps: f.warmupSteps,
    maxGradNorm: f.maxGradNorm > 0 ? f.maxGradNorm : null,
    evalEvery: f.evalEvery,
    saveEvery: f.saveEvery,
    outputDir: f.out,
    earlyStopping: f.patience > 0 ? { patience: f.patience } : undefined,
    seed: f.seed,
    onEvent: (e) => {
      events.push(e);
      progress.event({ ...e, totalSteps: trainer.totalSteps, elapsed_ms: e.elapsed_s * 1000, tokens_per_s: e.tokens_per_sec });
      if (e.type === 'stopped' && e.message) progress.line(e.message);
    },
  });
  const t0 = Date.now();
  let result: TrainResult;
  try {
    if (f.resume) await trainer.restore(f.out);
    result = await trainer.train();
  } finally {
    progress.end();
    trainer.dispose();
  }
  const seconds = (Date.now() - t0) / 1000;
  await saveAdapter(peft, f.out);
  if (result.stopReason === 'non-finite') throw new FailureError(result.message ?? 'training stopped: non-finite loss');
  return { backend, base, tokenizer, peft, dataset, events, result, trainableLine, config: peft.config(), seconds };
}

/** The report of a run: charts from the events, the diagnosis, the config. */
export function reportFor(run: TrainRun, title: string, extra: Partial<ReportInput> = {}): ReportInput {
  const steps = run.events.filter((e) => e.type === 'step' && !e.skipped);
  const evals = run.events.filter((e) => e.type === 'eval');
  const pts = (es: TrainEvent[], k: keyof TrainEvent) => es.filter((e) => typeof e[k] === 'number').map((e) => ({ step: e.step, value: e[k] as number }));
  const d = run.result.diagnosis;
  const stats = (name: string, t: typeof d.train) => (t ? `${name}: ${t.trend} (${(t.relativeChange * 100).toFixed(1)}% over the last ${t.points} points)` : `${name}: too few points`);
  return {
    title,
    trainableLine: run.trainableLine,
    diagnosis: { verdict: `${d.case}: ${d.summary}`, details: [stats('loss', d.train), stats('val_loss', d.validation)], advice: d.suggestions },
    charts: [
      { title: 'loss and val_loss', log: true, series: [{ name: 'loss', color: '#2d6cdf', points: pts(steps, 'loss') }, { name: 'val_loss', color: '#e0662d', points: pts(evals, 'val_loss') }] },
      { title: 'learning rate', series: [{ name: 'lr', color: '#2a9d57', points: pts(steps, 'lr') }] },
      { title: 'gradient norm (before clipping)', series: [{ name: 'grad_norm', color: '#8a3ffc', points: pts(steps, 'grad_norm') }] },
    ],
    summary: [
      ['steps', String(run.result.step)],
      ['stop reason', run.result.stopReason],
      ['skipped steps', String(run.result.skippedSteps)],
      ['final val_loss', run.result.lastEval ? run.result.lastEval.loss.toFixed(4) : '-'],
      ['backend', `${run.backend.name} (${run.backend.reason})`],
      ['training time', `${run.seconds.toFixed(1)} s`],
      ...(extra.summary ?? []),
    ],
    config: run.config as Record<string, unknown>,
    samples: extra.samples,
  };
}

export async function writeReport(dir: string, report: ReportInput): Promise<string> {
  const path = join(dir, 'report.html');
  await writeFileAtomic(path, renderReport(report));
  return path;
}

export async function train(args: ParsedArgs, io: Io): Promise<void> {
  const f = args.flags as TrainFlags;
  const run = await runTraining(f, args.extra, io);
  const path = await writeReport(f.out, reportFor(run, `peft train — ${f.method} on ${f.data}`));
  const d = run.result.diagnosis;
  if (f.json) {
    io.out(JSON.stringify({ type: 'done', adapter: f.out, report: path, diagnosis: d.case, summary: d.summary, steps: run.result.step }));
    return;
  }
  io.out(`adapter saved to ${f.out} (adapter_config.json, adapter_model.safetensors); report: ${path}`);
  io.out(`diagnosis: ${d.case} — ${d.summary}`);
  for (const s of d.suggestions) io.out(`  - ${s}`);
}
