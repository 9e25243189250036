// Trainable parameters, median training-step time and memory of bottleneck adapters (Houlsby,
// Pfeiffer) beside LoRA and AdaLoRA on the bundled tiny LLaMA, through the Trainer (so AdaLoRA's
// orthogonal regulariser and rank allocator are in its step).
//   npm run bench -w @peftjs/adapter
//   BENCH_BACKEND=wasm BENCH_STEPS=6 BENCH_SEQ=32 BENCH_BATCH=4 npm run bench -w @peftjs/adapter
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { PeftModel, PeftRegistry, Rng, type ModelOutput, type TokenBatch } from '@peftjs/core';
import { adalora } from '@peftjs/adalora';
import { lora } from '@peftjs/lora';
import { loadModel } from '@peftjs/models';
import { Trainer, type EncodedExample } from '@peftjs/train';
import { bottleneckAdapter } from '../src/index.js';

const TINY = fileURLToPath(new URL('../../models/assets/peftjs-tiny-llama', import.meta.url));
const num = (k: string, d: number) => Number(process.env[k] ?? d);
const STEPS = num('BENCH_STEPS', 5);
const SEQ = num('BENCH_SEQ', 32);
const BATCH = num('BENCH_BATCH', 4);

const METHODS: Array<{ name: string; config: Record<string, unknown> }> = [
  { name: 'LoRA r=8 (q_proj, v_proj)', config: { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] } },
  {
    name: 'AdaLoRA init_r=12 → 8 (q_proj, v_proj)',
    config: {
      peft_type: 'ADALORA',
      init_r: 12,
      target_r: 8,
      lora_alpha: 16,
      target_modules: ['q_proj', 'v_proj'],
      total_step: STEPS,
      tinit: 0,
      tfinal: 0,
    },
  },
  {
    name: 'Houlsby adapter (double_seq_bn, rf 16)',
    config: { peft_type: 'BOTTLENECK_ADAPTER', config: 'double_seq_bn', reduction_factor: 16 },
  },
  { name: 'Pfeiffer adapter (seq_bn, rf 16)', config: { peft_type: 'BOTTLENECK_ADAPTER', config: 'seq_bn', reduction_factor: 16 } },
];

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const backend = process.env.BENCH_BACKEND ?? 'cpu';
  if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend(backend);
  await tf.ready();
  const rng = new Rng(1);
  const data: EncodedExample[] = Array.from({ length: BATCH * (STEPS + 1) }, () => {
    const ids = Array.from({ length: SEQ }, () => 3 + rng.int(1000));
    return { inputIds: ids, labels: ids };
  });
  const rows: string[][] = [];
  for (const m of METHODS) {
    const base = await loadModel(TINY);
    const peft = new PeftModel(base as never, {
      registry: new PeftRegistry().use(lora).use(adalora).use(bottleneckAdapter),
      rng: new Rng(2),
    }) as PeftModel<TokenBatch, ModelOutput>;
    peft.addAdapter('default', m.config);
    const { trainable, all } = peft.countParameters();
    const times: number[] = [];
    let t0 = performance.now();
    const trainer = new Trainer({
      model: peft,
      trainData: data,
      batchSize: BATCH,
      maxSteps: STEPS + 1,
      learningRate: 1e-3,
      hooks: {
        onStepEnd: () => {
          const t = performance.now();
          times.push(t - t0);
          t0 = t;
        },
      },
    });
    const before = tf.memory().numBytes;
    const profile = await tf.profile(async () => {
      await trainer.train();
    });
    const resident = tf.memory().numBytes;
    trainer.dispose();
    rows.push([
      m.name,
      trainable.toLocaleString('en-US'),
      `${((100 * trainable) / all).toFixed(2)}%`,
      `${median(times.slice(1)).toFixed(0)} ms`,
      mb(profile.peakBytes),
      mb(resident - before + (before - base.namedParameters().reduce((n, [, v]) => n + v.size * 4, 0))),
    ]);
    peft.dispose();
    base.dispose();
    tf.disposeVariables();
  }
  const header = [
    'method',
    'trainable',
    'trainable %',
    `median step (${backend}, ${BATCH}×${SEQ} tokens)`,
    'peak tensor memory',
    'adapter + optimizer state',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(
    `\n${STEPS} timed steps after one warm-up step (Trainer with AdamW, clipping 1.0), model peftjs-tiny-llama (2.16M parameters).`,
  );
}

await main();
