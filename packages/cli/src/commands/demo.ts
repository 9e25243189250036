import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collateExamples, evaluateModel } from '@peftjs/train';
import type { CommandSpec, FlagSpec, FlagValues, ParsedArgs } from '../args.js';
import type { Io } from '../main.js';
import { generateBatch } from './generate.js';
import { reportFor, runTraining, writeReport, type TrainFlags, type TrainRun } from './train.js';

export const demoSpec = {
  name: 'demo',
  summary: 'the main job: LoRA fine-tune of the bundled small LLaMA on the bundled riddle task, with before/after and a report',
  usage: 'peft demo [--out DIR] [--steps N] [--backend auto|wasm|cpu]',
  flags: [
    {
      name: 'out',
      type: 'string',
      description: 'output folder (adapter, checkpoints, metrics.jsonl, report.html); a previous demo run in it is replaced',
      default: 'peft-demo-output',
    },
    { name: 'steps', type: 'number', description: 'optimizer steps', default: 120, rule: { integer: true, min: 1 } },
    { name: 'backend', type: 'string', description: 'tfjs backend', default: 'auto', choices: ['auto', 'tensorflow', 'wasm', 'cpu'] },
    { name: 'json', type: 'boolean', description: 'one JSON event per line' },
  ] as const satisfies readonly FlagSpec[],
} satisfies CommandSpec;

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
  const answers = (
    await generateBatch(
      model,
      base,
      tok,
      riddles.map((r) => r.prompt),
      8,
    )
  ).map((a) => a.split('\n')[0]);
  const right = answers.filter((a, i) => a.trim() === riddles[i].completion.trim()).length;
  return { accuracy: right / riddles.length, answers };
}

interface Measure {
  loss: number;
  accuracy: number;
  answers: string[];
}

/** Held-out val_loss and riddle accuracy of the (adapted) model. */
async function measure(run: Pick<TrainRun, 'peft' | 'base' | 'tokenizer' | 'dataset'>, riddles: Riddle[]): Promise<Measure> {
  const pad = run.tokenizer.padTokenId ?? run.tokenizer.eosTokenId ?? 0;
  const loss = evaluateModel(run.peft, run.dataset.validation, { batchSize: 16, collate: (x) => collateExamples(x, pad) }).loss;
  return { loss, ...(await answerAccuracy(run.peft, run.base, run.tokenizer, riddles)) };
}

/** The demo's run: the bundled model and riddles, LoRA on every linear layer; its own folder is replaced. */
function demoFlags(f: DemoFlags): TrainFlags {
  const paths = demoPaths();
  return {
    ...DEMO_TRAINING,
    model: paths.model,
    data: paths.train,
    valid: paths.valid,
    out: f.out,
    steps: f.steps,
    backend: f.backend,
    json: f.json,
    overwrite: true,
    doubleQuant: 'true', // the flag's default; the demo trains on the float model (no --quantize)
  };
}

const DEMO_TRAINING = {
  method: 'lora',
  valSplit: 0,
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
} as const;

type DemoFlags = FlagValues<typeof demoSpec.flags>;

export async function demo(args: ParsedArgs, io: Io): Promise<void> {
  const f = args.flags as DemoFlags;
  const say = (s: string) => (f.json ? undefined : io.out(s));
  const valid = readFileSync(demoPaths().valid, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Riddle);
  const shown = [0, 17, 41].map((i) => valid[i % valid.length]);
  const showAnswers = (m: Measure) => shown.forEach((r) => say(`  ${r.prompt.replace('\n', ' ')} →${m.answers[valid.indexOf(r)]}`));
  say('peft demo: LoRA fine-tune of the bundled peftjs-tiny-llama (a 2.2M-parameter LLaMA pretrained on fables)');
  say('task: answer animal riddles; 112 training riddles, 56 held-out riddles whose clue pairs never appear in training\n');
  const t0 = Date.now();
  let before: Measure | undefined;
  const lora = { r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: 'all-linear' };
  const run = await runTraining(demoFlags(f), lora, io, {
    beforeTrain: async (setup) => {
      before = await measure(setup, valid);
      say(
        `before: held-out val_loss ${before.loss.toFixed(3)}, riddles answered right ${(100 * before.accuracy).toFixed(1)}% (${Math.round(before.accuracy * valid.length)}/${valid.length})`,
      );
      showAnswers(before);
      say('');
    },
  });
  const [b, after] = [before!, await measure(run, valid)];
  say(
    `\nafter ${run.result.step} steps (${run.seconds.toFixed(0)} s of training): held-out val_loss ${after.loss.toFixed(3)} (was ${b.loss.toFixed(3)}), riddles answered right ${(100 * after.accuracy).toFixed(1)}% (was ${(100 * b.accuracy).toFixed(1)}%)`,
  );
  showAnswers(after);
  const path = await writeReport(
    f.out,
    demoReport(
      run,
      b,
      after,
      shown.map((r) => valid.indexOf(r)),
      valid,
      t0,
    ),
  );
  const d = run.result.diagnosis;
  say(`\ndiagnosis: ${d.case} — ${d.summary}`);
  for (const s of d.suggestions) say(`  - ${s}`);
  say(run.trainableLine);
  say(`report: ${path}   adapter: ${f.out}/adapter_model.safetensors   total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (f.json) {
    io.out(
      JSON.stringify({
        type: 'demo',
        before: { val_loss: b.loss, accuracy: b.accuracy },
        after: { val_loss: after.loss, accuracy: after.accuracy },
        steps: run.result.step,
        seconds: run.seconds,
        report: path,
        diagnosis: d.case,
      }),
    );
  }
}

function demoReport(run: TrainRun, b: Measure, after: Measure, shown: number[], valid: Riddle[], t0: number) {
  return reportFor(run, 'peft demo — LoRA on peftjs-tiny-llama, animal riddles', {
    summary: [
      ['held-out val_loss before → after', `${b.loss.toFixed(3)} → ${after.loss.toFixed(3)}`],
      ['held-out riddles answered right before → after', `${(100 * b.accuracy).toFixed(1)}% → ${(100 * after.accuracy).toFixed(1)}%`],
      ['total demo time', `${((Date.now() - t0) / 1000).toFixed(0)} s`],
    ],
    samples: shown.map((i) => ({ prompt: valid[i].prompt, before: b.answers[i], after: after.answers[i] })),
  });
}
