/**
 * `npm run bench -w @peftjs/backend-node`: PERFORMANCE.md's benchmark on the stand-in decoder
 * (vocab 512, hidden 256, 4 layers, 4 heads, FFN 1024, seq 64, batch 8, LoRA r=8 on q and v, Adam):
 * LoRA step, full fine-tune step, forward, 1024³ matMul, for each backend configuration, all in one
 * process. Medians of BENCH_REPS (default 3) timed runs after one warm-up; cpu runs once (it is
 * ~40× slower). BENCH_CPU=0 skips cpu. The wasm rows with 1 thread reuse the threaded module with a
 * 1-thread XNNPACK pool.
 */
import * as tf from '@tensorflow/tfjs-core';
import { allWasmFastPaths, setupBackend, setWasmFastPaths, type WasmFastPaths } from '../src/index.js';
import type { WasmBackendInternals } from '../src/wasm/threads.js';
import { BENCH_CONFIG, makeStandin, trainStep } from './standin.js';

const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const RUN_CPU = process.env['BENCH_CPU'] !== '0';

interface Row {
  name: string;
  lora: number;
  full: number;
  forward: number;
  gflops: number;
  loss: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(reps: number, warmup: number, f: () => void): number {
  for (let i = 0; i < warmup; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function measure(name: string, reps: number, warmup: number): Row {
  const before = tf.memory().numTensors;
  const model = makeStandin(BENCH_CONFIG);
  const loraOpt = tf.train.adam(1e-3);
  const fullOpt = tf.train.adam(1e-3);
  let loss = NaN;
  const lora = time(reps, warmup, () => {
    const l = trainStep(model, loraOpt, model.lora, true);
    if (Number.isNaN(loss)) loss = l;
  });
  const full = time(reps, warmup, () => trainStep(model, fullOpt, model.base, false));
  const forward = time(reps, warmup, () => {
    const l = model.loss(true);
    l.dataSync();
    l.dispose();
  });
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  const mm = time(reps, 1, () => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  });
  tf.dispose([a, b]);
  loraOpt.dispose();
  fullOpt.dispose();
  model.dispose();
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) console.warn(`${name}: ${leaked} tensors left after the run`);
  const row = { name, lora, full, forward, gflops: (2 * 1024 ** 3) / (mm * 1e6), loss };
  console.log(
    `  ${name}: LoRA ${lora.toFixed(0)} ms, full ${full.toFixed(0)} ms, forward ${forward.toFixed(0)} ms, ` +
      `matmul ${row.gflops.toFixed(1)} GFLOP/s (first LoRA loss ${loss.toFixed(5)})`,
  );
  return row;
}

function setWasmThreads(n: number): number {
  const module = (tf.backend() as WasmBackendInternals).wasm;
  module.tfjs.initWithThreadsCount(n);
  return module.tfjs.getThreadsCount();
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const rows: Row[] = [];
  const info = await setupBackend({ log: (m) => console.log(m) });
  if (info.name !== 'wasm') console.log(`(auto picked ${info.name}; the rows below still force each backend)`);
  await setupBackend({ prefer: 'wasm' });
  const N = (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount();
  const fixes: WasmFastPaths = allWasmFastPaths(true);
  const stock: WasmFastPaths = allWasmFastPaths(false);
  console.log(
    `reps ${REPS} (median), load average ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );

  setWasmFastPaths(fixes);
  rows.push(measure(`wasm ${N} threads + fixes`, REPS, 1));
  setWasmFastPaths({ ...fixes, matMulGradient: false });
  rows.push(measure(`wasm ${N} thr, kernel fix only`, REPS, 1));
  setWasmFastPaths({ ...stock, matMulGradient: true, gatherGradient: true });
  rows.push(measure(`wasm ${N} thr, gradient fix only`, REPS, 1));
  setWasmThreads(1);
  setWasmFastPaths(fixes);
  rows.push(measure('wasm 1 thread + fixes', REPS, 1));
  setWasmFastPaths({ ...stock, gatherGradient: true });
  rows.push(measure('wasm 1 thread, stock', REPS, 1));
  if (N > 1) {
    setWasmThreads(N);
    setWasmFastPaths({ ...stock, gatherGradient: true });
    rows.push(measure(`wasm ${N} threads, stock`, REPS, 1));
  }
  setWasmFastPaths(fixes);
  if (RUN_CPU) {
    await setupBackend({ prefer: 'cpu' });
    rows.push(measure('cpu (pure JS)', 1, 0));
  }

  const ref = rows.find((r) => r.name === 'wasm 1 thread, stock')!;
  const pad = Math.max(...rows.map((r) => r.name.length));
  console.log(`\n${'configuration'.padEnd(pad)} | LoRA step | full step | forward | matmul GFLOP/s | LoRA ×  | full ×`);
  console.log(`${'-'.repeat(pad)}-|-----------|-----------|---------|----------------|---------|-------`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(pad)} | ${r.lora.toFixed(0).padStart(6)} ms | ${r.full.toFixed(0).padStart(6)} ms | ` +
        `${r.forward.toFixed(0).padStart(4)} ms | ${r.gflops.toFixed(1).padStart(14)} | ` +
        `${(ref.lora / r.lora).toFixed(2).padStart(6)}× | ${(ref.full / r.full).toFixed(2).padStart(5)}×`,
    );
  }
  console.log(`(× = speed-up over "wasm 1 thread, stock"; total ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

await main();
