import { join, resolve } from 'node:path';
import { rmdir } from 'node:fs/promises';
import { PeftModel, adapterConfigJSON, registry, saveAdapter, type PeftConfigBase, type PeftMethod } from '@peftjs/core';
import { FolderLockedError, lockFolder, writeFileAtomic } from '@peftjs/core/io';
import type { BackendInfo } from '@peftjs/backend-node';
import type { PretrainedModel, PretrainedTokenizer } from '@peftjs/models';
import {
  Trainer,
  loadJsonlDataset,
  resolveCheckpoint,
  type Dataset,
  type EncodedExample,
  type TrainEvent,
  type TrainResult,
  type TrainerOptions,
} from '@peftjs/train';
import type { CommandSpec, FlagSpec, FlagValues, ParsedArgs } from '../args.js';
import { ensureBackend, loadBase, loadTok, maxPositions } from '../common.js';
import { UsageError, FailureError } from '../errors.js';
import type { Io } from '../main.js';
import { checkMethodOptions } from '../method-options.js';
import { METHOD_HELP, loadMethod } from '../methods.js';
import { checkOutputLocation, checkResume, fileSha256, prepareNewRun, writeRunRecord, type RunRecord } from '../output.js';
import { Progress, type ProgressMode } from '../progress.js';
import { renderReport, type ReportInput } from '../report.js';
import { QUANTIZE_FLAGS, quantizeOption } from '../quantization.js';

const positiveInt = { integer: true, min: 1 } as const;

export const TRAIN_FLAGS = [
  {
    name: 'model',
    type: 'string',
    description: 'Hugging Face model folder (config.json, model.safetensors, tokenizer.json)',
    required: true,
  },
  {
    name: 'data',
    type: 'string',
    description: 'training data, JSONL of {"text"}, {"prompt","completion"}, {"messages"} or {"text","label"}',
    required: true,
  },
  { name: 'method', type: 'string', description: METHOD_HELP, default: 'lora' },
  { name: 'out', type: 'string', description: 'output folder: adapter files, checkpoints, metrics.jsonl, report.html', required: true },
  { name: 'valid', type: 'string', description: 'validation JSONL (default: --val-split of the training data)' },
  {
    name: 'val-split',
    type: 'number',
    description: 'fraction of the training data held out when --valid is absent',
    default: 0.1,
    rule: { min: 0, max: 0.9 },
  },
  { name: 'steps', type: 'number', description: 'optimizer steps (default: --epochs over the data)', rule: positiveInt },
  { name: 'epochs', type: 'number', description: 'passes over the training data', default: 1, rule: positiveInt },
  { name: 'batch-size', type: 'number', description: 'examples per micro-batch', default: 8, rule: positiveInt },
  { name: 'grad-accum', type: 'number', description: 'micro-batches per optimizer step', default: 1, rule: positiveInt },
  { name: 'lr', type: 'number', description: 'peak learning rate', default: 2e-4, rule: { min: 0, exclusiveMin: true } },
  { name: 'schedule', type: 'string', description: 'learning-rate schedule', default: 'linear', choices: ['constant', 'linear', 'cosine'] },
  { name: 'warmup-steps', type: 'number', description: 'linear warmup steps', default: 0, rule: { integer: true, min: 0 } },
  { name: 'weight-decay', type: 'number', description: 'AdamW decoupled weight decay', default: 0, rule: { min: 0 } },
  { name: 'max-grad-norm', type: 'number', description: 'global-norm clipping (0 = off)', default: 1, rule: { min: 0 } },
  {
    name: 'max-length',
    type: 'number',
    description: "longest example in tokens (longer ones are cut and counted; at most the model's positions)",
    default: 128,
    rule: positiveInt,
  },
  { name: 'eval-every', type: 'number', description: 'evaluate every N steps (and at the end)', default: 20, rule: positiveInt },
  { name: 'save-every', type: 'number', description: 'checkpoint every N steps (and at the end)', default: 100, rule: positiveInt },
  {
    name: 'patience',
    type: 'number',
    description: 'early stopping: evaluations without val_loss improvement (0 = off)',
    default: 0,
    rule: { integer: true, min: 0 },
  },
  {
    name: 'seed',
    type: 'number',
    description: 'seed of initialisation, data order and dropout',
    default: 42,
    rule: { integer: true, min: 0 },
  },
  { name: 'resume', type: 'boolean', description: 'resume from the last checkpoint in --out (same data, batch and method options)' },
  { name: 'overwrite', type: 'boolean', description: 'replace the run in a non-empty --out (its adapter only once the new run succeeds)' },
  { name: 'backend', type: 'string', description: 'tfjs backend', default: 'auto', choices: ['auto', 'tensorflow', 'wasm', 'cpu'] },
  { name: 'json', type: 'boolean', description: 'one JSON event per line on stdout' },
  {
    name: 'gradient-checkpointing',
    type: 'boolean',
    description: 'recompute each layer in the backward pass: far less memory on long sequences, about one more forward pass of time',
  },
  ...QUANTIZE_FLAGS,
] as const satisfies readonly FlagSpec[];

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'fine-tune a model folder on a JSONL dataset with a PEFT method',
  usage: 'peft train --model DIR --data FILE.jsonl --method lora --out DIR [method options]',
  flags: TRAIN_FLAGS,
  passthrough: true,
};

/** The values of `peft train`'s flags, typed from TRAIN_FLAGS. */
export type TrainFlags = FlagValues<typeof TRAIN_FLAGS>;

export interface TrainRun {
  backend: BackendInfo;
  base: PretrainedModel;
  tokenizer: PretrainedTokenizer;
  peft: PeftModel;
  dataset: Dataset;
  events: TrainEvent[];
  result: TrainResult;
  trainableLine: string;
  config: PeftConfigBase;
  seconds: number;
}

type RunSetup = Omit<TrainRun, 'result' | 'events' | 'seconds'>;

export interface RunOptions {
  /** Called once everything is loaded and checked, before the first step (the demo's "before"). */
  beforeTrain?: (run: RunSetup) => Promise<void>;
  /** The flag each method option came from (`ParsedArgs.extraFlags`), for error messages. */
  flagOf?: Record<string, string>;
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

/** The output folder's lock for the run; another live run holding it is a usage error. */
async function lockOutput(out: string): Promise<() => Promise<void>> {
  try {
    return await lockFolder(out);
  } catch (e) {
    if (e instanceof FolderLockedError) throw new UsageError(`--out ${e.message}`);
    throw e;
  }
}

/**
 * Checks every input, loads everything, then trains; the adapter is saved to `--out` only when the
 * run succeeds. Shared by `train` and `demo`. The output folder is checked before anything loads
 * and locked for the life of the run.
 */
export async function runTraining(f: TrainFlags, methodOptions: Record<string, unknown>, io: Io, opts: RunOptions = {}): Promise<TrainRun> {
  if (f.resume && f.overwrite) throw new UsageError('give --resume (continue the run in --out) or --overwrite (replace it), not both');
  await checkOutputLocation('--out', f.out);
  const existed = await import('node:fs').then((fs) => fs.existsSync(f.out));
  const unlock = await lockOutput(f.out);
  try {
    if (!f.resume) await prepareNewRun(f.out, !!f.overwrite);
    const method = await loadMethod(f.method);
    const setup = await setUp(f, method, methodOptions, io, opts.flagOf ?? {});
    await opts.beforeTrain?.(setup);
    const t0 = Date.now();
    const { result, events } = await trainLoaded(f, setup, io);
    const seconds = (Date.now() - t0) / 1000;
    // a failed run never replaces the adapter of an earlier good one
    if (result.stopReason === 'non-finite')
      throw new FailureError(`${result.message ?? 'training stopped: non-finite loss'} The adapter in ${f.out} was not written.`);
    await saveAdapter(setup.peft, f.out);
    return { ...setup, events, result, seconds, config: setup.peft.config() };
  } finally {
    await unlock();
    if (!existed) await rmdir(f.out).catch(() => undefined); // only when the run left it empty
  }
}

/** Backend, base model, tokenizer, data, the adapter; every option checked; the run recorded. */
async function setUp(
  f: TrainFlags,
  method: PeftMethod,
  methodOptions: Record<string, unknown>,
  io: Io,
  flagOf: Record<string, string>,
): Promise<RunSetup> {
  const say = (s: string) => (f.json ? undefined : io.out(s));
  const config = { peft_type: method.type, task_type: 'CAUSAL_LM', ...methodOptions } as PeftConfigBase;
  checkMethodOptions(trainSpec, method, config, methodOptions, flagOf);
  const backend = await ensureBackend(f.backend);
  say(`backend: ${backend.name}${backend.threads > 1 ? ` (${backend.threads} threads)` : ''} — ${backend.reason}`);
  const base = await loadBase(f.model, { quantize: quantizeOption(f) });
  const positions = maxPositions(base);
  if (positions !== undefined && f.maxLength > positions)
    throw new UsageError(`--max-length ${f.maxLength} exceeds the model's ${positions} positions (max_position_embeddings)`);
  const tokenizer = await loadTok(f.model);
  const dataset = await asUsage('', () =>
    loadJsonlDataset(f.data, tokenizer, {
      maxLength: f.maxLength,
      validation: f.valid ?? f.valSplit,
      seed: f.seed,
      warn: (m) => say(`warning: ${m}`),
    }),
  );
  if (dataset.format === 'classification') config.task_type = 'SEQ_CLS';
  const peft = new PeftModel(base, { registry });
  await asUsage(`--method ${f.method}`, () => peft.addAdapter('default', config));
  const record = await runRecord(f, peft);
  if (f.resume) await checkResume(f.out, record, await asUsage('--resume', () => resolveCheckpoint(f.out)));
  else await writeRunRecord(f.out, record);
  const trainableLine = peft.printTrainableParameters(say);
  say(
    `data: ${dataset.train.length} training and ${dataset.validation.length} validation examples (${dataset.format})${dataset.truncated ? `, ${dataset.truncated} truncated to ${f.maxLength} tokens` : ''}`,
  );
  return { backend, base, tokenizer, peft, dataset, trainableLine, config: peft.config() };
}

async function runRecord(f: TrainFlags, peft: PeftModel): Promise<RunRecord> {
  return {
    data: resolve(f.data),
    data_sha256: await fileSha256(f.data),
    valid: f.valid ? resolve(f.valid) : null,
    valid_sha256: f.valid ? await fileSha256(f.valid) : null,
    val_split: f.valSplit,
    max_length: f.maxLength,
    batch_size: f.batchSize,
    grad_accum: f.gradAccum,
    seed: f.seed,
    method: f.method,
    adapter_config: adapterConfigJSON(peft.adapter('default')),
  };
}

/** The Trainer's options from the flags. */
function trainerOptions(f: TrainFlags, run: RunSetup): TrainerOptions<EncodedExample> {
  const { dataset, tokenizer } = run;
  return {
    model: run.peft,
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
    gradientCheckpointing: f.gradientCheckpointing,
  };
}

/** Trains the loaded run (from its checkpoint with --resume), showing progress. */
async function trainLoaded(f: TrainFlags, run: RunSetup, io: Io): Promise<{ result: TrainResult; events: TrainEvent[] }> {
  const mode: ProgressMode = f.json ? 'json' : io.isTTY ? 'tty' : 'plain';
  const progress = new Progress(mode, io.write);
  const events: TrainEvent[] = [];
  const trainer = new Trainer({
    ...trainerOptions(f, run),
    onEvent: (e) => {
      events.push(e);
      progress.event({ ...e, totalSteps: trainer.totalSteps, elapsed_ms: e.elapsed_s * 1000, tokens_per_s: e.tokens_per_sec });
      if (e.type === 'stopped' && e.message) progress.line(e.message);
    },
  });
  try {
    if (f.resume) await asUsage('--resume', () => trainer.restore(f.out));
    return { result: await trainer.train(), events };
  } finally {
    progress.end();
    trainer.dispose();
  }
}

/** The report of a run: charts from the events, the diagnosis, the config. */
export function reportFor(run: TrainRun, title: string, extra: Partial<ReportInput> = {}): ReportInput {
  const steps = run.events.filter((e) => e.type === 'step' && !e.skipped);
  const evals = run.events.filter((e) => e.type === 'eval');
  const pts = (es: TrainEvent[], k: keyof TrainEvent) =>
    es.filter((e) => typeof e[k] === 'number').map((e) => ({ step: e.step, value: e[k] as number }));
  const d = run.result.diagnosis;
  const stats = (name: string, t: typeof d.train) =>
    t ? `${name}: ${t.trend} (${(t.relativeChange * 100).toFixed(1)}% over the last ${t.points} points)` : `${name}: too few points`;
  return {
    title,
    trainableLine: run.trainableLine,
    diagnosis: {
      verdict: `${d.case}: ${d.summary}`,
      details: [stats('loss', d.train), stats('val_loss', d.validation)],
      advice: d.suggestions,
    },
    charts: [
      {
        title: 'loss and val_loss',
        log: true,
        series: [
          { name: 'loss', color: '#2d6cdf', points: pts(steps, 'loss') },
          { name: 'val_loss', color: '#e0662d', points: pts(evals, 'val_loss') },
        ],
      },
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
  const run = await runTraining(f, args.extra, io, { flagOf: args.extraFlags });
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
