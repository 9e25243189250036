// Prompt-learning methods beside LoRA and full fine-tuning on the bundled model: trainable
// parameters, median training-step time and tensor memory, printed as one table.
//   npm run bench -w @peftjs/prompt
//   BENCH_BACKEND=wasm BENCH_STEPS=20 BENCH_BATCH=8 BENCH_SEQ=64 npm run bench -w @peftjs/prompt
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PeftModel, PeftRegistry, Rng, type ModelOutput } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { loadModel, type ModelBatch, type PretrainedModel } from '@peftjs/models';
import { prefixTuning } from '@peftjs/prefix';
import { pTuning } from '@peftjs/ptuning';
import { promptTuning } from '../src/index.js';

const BUNDLED = fileURLToPath(new URL('../../models/assets/peftjs-tiny-llama', import.meta.url));
const FIXTURE = `${process.env.PEFTJS_FIXTURES ?? fileURLToPath(new URL('../../../../shared/fixtures', import.meta.url))}/llama/base`;
const num = (k: string, d: number) => Number(process.env[k] ?? d);
const STEPS = num('BENCH_STEPS', 5);
const WARMUP = 1;
const B = num('BENCH_BATCH', 4);
const T = num('BENCH_SEQ', 32);

/** null: full fine-tuning (every base parameter trains, no adapter). */
const METHODS: Array<[string, Record<string, unknown> | null]> = [
  ['Prompt Tuning (n=16)', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 16 }],
  ['Prefix Tuning (n=16)', { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 16 }],
  [
    'Prefix Tuning + projection (n=16, h=64)',
    { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 16, prefix_projection: true, encoder_hidden_size: 64 },
  ],
  ['P-Tuning MLP (n=16, h=64)', { peft_type: 'P_TUNING', num_virtual_tokens: 16, encoder_hidden_size: 64 }],
  [
    'P-Tuning LSTM (n=16, h=32)',
    { peft_type: 'P_TUNING', num_virtual_tokens: 16, encoder_hidden_size: 32, encoder_reparameterization_type: 'LSTM' },
  ],
  ['LoRA (r=8, q_proj v_proj)', { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] }],
  ['Full fine-tuning', null],
];

interface Row {
  method: string;
  /** Why the method could not run on this backend (e.g. a kernel it lacks). */
  error?: string;
  trainable: number;
  percent: string;
  stepMs: number;
  memoryMB: number;
  extraMB: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function measure(dir: string, name: string, config: Record<string, unknown> | null, vocab: number): Promise<Row> {
  const base = (await loadModel(dir)) as PretrainedModel;
  const baseBytes = tf.memory().numBytes;
  const registry = new PeftRegistry().use(promptTuning).use(prefixTuning).use(pTuning).use(lora);
  const peft = config ? new PeftModel(base as never, { registry, rng: new Rng(0) }) : null;
  if (peft) peft.addAdapter('default', config!);
  else base.requiresGrad(true);
  const model = (peft ?? base) as unknown as { forward(b: ModelBatch): ModelOutput };
  const vars = (peft ? peft.trainableParameters() : base.namedParameters()).map(([, v]) => v);
  const all = peft ? peft.countParameters().all : vars.reduce((n, v) => n + v.size, 0);
  const trainable = vars.reduce((n, v) => n + v.size, 0);
  const rng = new Rng(1);
  const ids = tf.tensor2d(
    Array.from({ length: B * T }, () => rng.int(vocab)),
    [B, T],
    'int32',
  );
  const batch: ModelBatch = { inputIds: ids, labels: ids };
  const optimizer = tf.train.adam(1e-3);
  peft?.train();
  base.train();
  const times: number[] = [];
  for (let s = 0; s < WARMUP + STEPS; s++) {
    const t0 = performance.now();
    const cost = optimizer.minimize(() => model.forward(batch).loss as tf.Scalar, true, vars)!;
    cost.dataSync();
    cost.dispose();
    if (s >= WARMUP) times.push(performance.now() - t0);
  }
  const bytes = tf.memory().numBytes;
  optimizer.dispose();
  ids.dispose();
  peft?.dispose();
  base.dispose();
  return {
    method: name,
    trainable,
    percent: ((100 * trainable) / all).toFixed(4),
    stepMs: median(times),
    memoryMB: bytes / 2 ** 20,
    extraMB: (bytes - baseBytes) / 2 ** 20,
  };
}

function table(rows: Row[]): string {
  const head = ['method', 'trainable params', 'trainable %', 'median step (ms)', 'tf.memory (MB)', 'beyond base (MB)'];
  const cells = rows.map((r) =>
    r.error
      ? [r.method, `failed: ${r.error.slice(0, 60)}`, '', '', '', '']
      : [r.method, r.trainable.toLocaleString('en-US'), r.percent, r.stepMs.toFixed(1), r.memoryMB.toFixed(2), r.extraMB.toFixed(3)],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...cells.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const backend = process.env.BENCH_BACKEND ?? 'cpu';
  if (!(await tf.setBackend(backend).catch(() => false))) {
    console.error(`backend ${backend} unavailable, using cpu`);
    await tf.setBackend('cpu');
  }
  await tf.ready();
  const dir = existsSync(`${BUNDLED}/config.json`) ? BUNDLED : FIXTURE;
  if (!existsSync(`${dir}/config.json`)) throw new Error(`no model: neither ${BUNDLED} nor ${FIXTURE} has a config.json`);
  const probe = (await loadModel(dir)) as PretrainedModel;
  const vocab = probe.dims.vocabSize;
  const params = probe.namedParameters().reduce((n, [, v]) => n + v.size, 0);
  probe.dispose();
  const rows: Row[] = [];
  for (const [name, config] of METHODS) {
    try {
      rows.push(await measure(dir, name, config, vocab));
      console.error(`measured ${name}: ${rows[rows.length - 1].stepMs.toFixed(1)} ms/step`);
    } catch (e) {
      rows.push({ method: name, error: (e as Error).message, trainable: 0, percent: '', stepMs: NaN, memoryMB: NaN, extraMB: NaN });
    }
  }
  console.log(
    `\nmodel ${dir} (${params.toLocaleString('en-US')} parameters), backend ${tf.getBackend()}, batch ${B}×${T}, Adam, median of ${STEPS} steps after ${WARMUP} warm-up`,
  );
  console.log(table(rows));
}

await main();
