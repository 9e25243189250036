import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collateExamples, evaluateModel } from '@peftjs/train';
import type { CommandSpec, ParsedArgs } from '../args.js';
import type { Io } from '../main.js';
import { generateBatch } from './generate.js';
import { reportFor, runTraining, writeReport, type TrainFlags } from './train.js';

export const demoSpec: CommandSpec = {
  name: 'demo',
  summary: 'the main job: LoRA fine-tune of the bundled small LLaMA on the bundled riddle task, with before/after and a report',
  usage: 'peft demo [--out DIR] [--steps N] [--backend auto|wasm|cpu]',
  flags: [
    { name: 'out', type: 'string', description: 'output folder (adapter, checkpoints, metrics.jsonl, report.html)', default: 'peft-demo-output' },
    { name: 'steps', type: 'number', description: 'optimizer steps', default: 120 },
    { name: 'backend', type: 'string', description: 'tfjs backend: auto, tensorflow, wasm or cpu', default: 'auto' },
    { name: 'json', type: 'boolean', description: 'one JSON event per line' },
  ],
};

/** The bundled model folder (shipped in @peftjs/models) and the demo task (shipped here). */
export function demoPaths(): { model: string; train: string; valid: string } {
  const require = createRequire(import.meta.url);
  const models = dirname(require.resolve('@peftjs/models/package.json'));
  const here = dirname(fileURLToPath(import.meta.url));
  const assets = resolve(here, '../../assets/riddles');
  return { model: join(models, 'assets/peftjs-tiny-llama'), train: join(assets, 'train.jsonl'), valid: join(assets, 'valid.jsonl') };
}

interface Riddle {
  prompt: string;
  completion: string;
}

/** Share of held-out riddles whose greedy answer is exactly the expected one. */
async function answerAccuracy(
  model: Parameters<typeof generateBatch>[0],
  base: Parameters<typeof generateBatch>[1],
  tok: Parameters<typeof generateBatch>[2],
  riddles: Riddle[],
): Promise<{ accuracy: number; answers: string[] }> {
  const answers = (await generateBatch(model, base, tok, riddles.map((r) => r.prompt), 8)).map((a) => a.split('\n')[0]);
  const right = answers.filter((a, i) => a.trim() === riddles[i].completion.trim()).length;
  return { accuracy: right / riddles.length, answers };
}

export async function demo(args: ParsedArgs, io: Io): Promise<void> {
  const f = args.flags as { out: string; steps: number; backend: string; json?: boolean };
  const paths = demoPaths();
  const say = (s: string) => (f.json ? undefined : io.out(s));
  const valid = readFileSync(paths.valid, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Riddle);
  const shown = [0, 17, 41].map((i) => valid[i % valid.length]);
  say('peft demo: LoRA fine-tune of the bundled peftjs-tiny-llama (a 2.2M-parameter LLaMA pretrained on fables)');
  say('task: answer animal riddles; 112 training riddles, 56 held-out riddles whose clue pairs never appear in training\n');
  const t0 = Date.now();
  let before: { loss: number; accuracy: number; answers: string[] } | undefined;
  const flags: TrainFlags = {
    model: paths.model,
    data: paths.train,
    valid: paths.valid,
    method: 'lora',
    out: f.out,
    valSplit: 0,
    steps: f.steps,
    epochs: 1,
    batchSize: 8,
    gradAccum: 1,
    lr: 5e-3,
    schedule: 'cosine',
    warmupSteps: 10,
    weightDecay: 0,
    maxGradNorm: 1,
    maxLength: 64,
    evalEvery: 10,
    saveEvery: 1000,
    patience: 0,
    seed: 42,
    backend: f.backend,
    json: f.json,
  };
  const lora = { r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: 'all-linear' };
  const run = await runTraining(flags, lora, io, {
    beforeTrain: async ({ peft, base, tokenizer, dataset }) => {
      const pad = tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
      const loss = evaluateModel(peft as never, dataset.validation, { batchSize: 16, collate: (x) => collateExamples(x, pad) }).loss;
      const acc = await answerAccuracy(peft as never, base, tokenizer, valid);
      before = { loss, ...acc };
      say(`before: held-out val_loss ${loss.toFixed(3)}, riddles answered right ${(100 * acc.accuracy).toFixed(1)}% (${Math.round(acc.accuracy * valid.length)}/${valid.length})`);
      for (const r of shown) say(`  ${r.prompt.replace('\n', ' ')} →${acc.answers[valid.indexOf(r)]}`);
      say('');
    },
  });
  const pad = run.tokenizer.padTokenId ?? run.tokenizer.eosTokenId ?? 0;
  const afterLoss = evaluateModel(run.peft as never, run.dataset.validation, { batchSize: 16, collate: (x) => collateExamples(x, pad) }).loss;
  const after = await answerAccuracy(run.peft as never, run.base, run.tokenizer, valid);
  const b = before!;
  say(`\nafter ${run.result.step} steps (${run.seconds.toFixed(0)} s of training): held-out val_loss ${afterLoss.toFixed(3)} (was ${b.loss.toFixed(3)}), riddles answered right ${(100 * after.accuracy).toFixed(1)}% (was ${(100 * b.accuracy).toFixed(1)}%)`);
  for (const r of shown) say(`  ${r.prompt.replace('\n', ' ')} →${after.answers[valid.indexOf(r)]}`);
  const report = reportFor(run, 'peft demo — LoRA on peftjs-tiny-llama, animal riddles', {
    summary: [
      ['held-out val_loss before → after', `${b.loss.toFixed(3)} → ${afterLoss.toFixed(3)}`],
      ['held-out riddles answered right before → after', `${(100 * b.accuracy).toFixed(1)}% → ${(100 * after.accuracy).toFixed(1)}%`],
      ['total demo time', `${((Date.now() - t0) / 1000).toFixed(0)} s`],
    ],
    samples: shown.map((r) => ({ prompt: r.prompt, before: b.answers[valid.indexOf(r)], after: after.answers[valid.indexOf(r)] })),
  });
  const path = await writeReport(f.out, report);
  const d = run.result.diagnosis;
  say(`\ndiagnosis: ${d.case} — ${d.summary}`);
  for (const s of d.suggestions) say(`  - ${s}`);
  say(run.trainableLine);
  say(`report: ${path}   adapter: ${f.out}/adapter_model.safetensors   total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (f.json) {
    io.out(JSON.stringify({ type: 'demo', before: { val_loss: b.loss, accuracy: b.accuracy }, after: { val_loss: afterLoss, accuracy: after.accuracy }, steps: run.result.step, seconds: run.seconds, report: path, diagnosis: d.case }));
  }
}
