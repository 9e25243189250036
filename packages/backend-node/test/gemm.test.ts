import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loraMatMul } from '@peftjs/core';
import { setupBackend, setWasmFastPaths, WasmGemm } from '../src/index.js';
import { GemmPool, HELPER_SOURCE, STALL_WINDOW } from '../src/wasm/gemm/pool.js';
import { Worker } from 'node:worker_threads';
import { nodeHelperFactory } from '../src/wasm/gemm/node-helpers.js';
import { binarySource, buildGemmBinaries, BINARY_FILE } from '../scripts/build-gemm.js';
import { expectClose, expectCloseNorm } from './helpers.js';
import fs from 'node:fs';

/** Deterministic values, the same on every backend. */
function values(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.31 + i * 1.37)),
    shape,
  );
}

/** Sizes off every block edge (MR 6, NR 8, KC 256, NC 512, 4-column dot products), broadcast batches, all transpose forms. */
const CASES: Array<[number[], number[], boolean, boolean]> = [];
for (const [ta, tb] of [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const) {
  const a = (b: number[], m: number, k: number) => [...b, ...(ta ? [k, m] : [m, k])];
  const b = (bb: number[], k: number, n: number) => [...bb, ...(tb ? [n, k] : [k, n])];
  CASES.push([a([], 75, 260), b([], 260, 530), ta, tb]);
  CASES.push([a([2, 1], 7, 13), b([3], 13, 9), ta, tb]);
  CASES.push([a([4], 1, 33), b([], 33, 17), ta, tb]);
  // 1–2 rows with k-contiguous operands: the unpacked dot-product path (decoding)
  CASES.push([a([], 2, 261), b([], 261, 13), ta, tb]);
}

describe('peftjs GEMM on wasm equals tfjs on cpu', () => {
  beforeAll(async () => {
    await setupBackend({ prefer: 'wasm' });
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('the committed binary is what wat.ts compiles to (npm run build:gemm)', async () => {
    expect(fs.readFileSync(BINARY_FILE, 'utf8')).toBe(binarySource(await buildGemmBinaries()));
  });

  it.each(CASES)('matMul %j · %j (transposeA %s, transposeB %s): forward and gradients', async (sa, sb, ta, tb) => {
    // expected: tfjs' own ops on cpu with the batch broadcast made explicit: tfjs-cpu's BatchMatMul
    // gets [2, 1, ·]·[3, ·] wrong (3 batches of data for shape [2, 3, ·]) and its gradient throws
    const run = (explicit: boolean) =>
      tf.tidy(() => {
        const a = values(sa, 1);
        const b = values(sb, 2);
        const outer = tf.broadcast_util.assertAndGetBroadcastShape(sa.slice(0, -2), sb.slice(0, -2));
        const full = (x: tf.Tensor) => (explicit ? tf.broadcastTo(x, [...outer, ...x.shape.slice(-2)]) : x);
        const y = tf.matMul(full(a), full(b), ta, tb);
        const dy = values(y.shape, 3);
        const [ga, gb] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.matMul(full(x), full(w), ta, tb), dy)))([a, b]);
        return [y, ga!, gb!].map((t) => t.dataSync() as Float32Array);
      });
    await tf.setBackend('cpu');
    const expected = run(true);
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const actual = run(false);
    expect(tf.memory().numTensors).toBe(before);
    // K up to 260 (and batch sums): relative to the size of the terms
    actual.forEach((x, i) => expectClose(x, expected[i]!, 2e-5));
  });

  it('PeftLoraMatMul runs its wasm kernel and equals the fallback on cpu (forward and gradients)', async () => {
    const run = () =>
      tf.tidy(() => {
        const [x, w, la, lb] = [values([37, 29], 1), values([19, 29], 2), values([3, 29], 3), values([19, 3], 4)];
        const dy = values([37, 19], 5);
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
          tf.sum(tf.mul(loraMatMul({ x: a, weight: b, loraA: c, loraB: d }, { scaling: 2.5 }), dy));
        const g = tf.grads(f)([x, w, la, lb]);
        return [loraMatMul({ x, weight: w, loraA: la, loraB: lb }, { scaling: 2.5 }), ...g].map((t) => t.dataSync() as Float32Array);
      });
    await tf.setBackend('cpu');
    const expected = run();
    await tf.setBackend('wasm');
    expect(tf.getKernel('PeftLoraMatMul', 'wasm')).toBeDefined();
    const actual = run();
    // dL/dB = s·dyᵀ·(x·Aᵀ) sums terms up to ~10³ in f32: measured against float64, tfjs-cpu is off
    // by 9e-6 and our GEMM by 2.4e-5 (plain SIMD) / 2.7e-5 (FMA) on entries as small as 0.68, so
    // that output is compared norm-wise; y, dx, dW and dA stay element-wise
    actual.forEach((x, i) => (i === 4 ? expectCloseNorm(x, expected[i]!, 2e-5) : expectClose(x, expected[i]!, 2e-5)));
    setWasmFastPaths({ gemm: false });
    try {
      expect(tf.getKernel('PeftLoraMatMul', 'wasm')).toBeUndefined();
    } finally {
      setWasmFastPaths({ gemm: true });
    }
    expect(tf.getKernel('PeftLoraMatMul', 'wasm')).toBeDefined();
  });
});

describe('WasmGemm on a memory of its own', () => {
  it('plain SIMD: C and C += A·B with strided (transposed) views', () => {
    const memory = new WebAssembly.Memory({ initial: 32 });
    const g = new WasmGemm(memory, 0, { fma: false });
    const H = new Float32Array(memory.buffer);
    const [M, N, K] = [13, 11, 7];
    const pa = WasmGemm.scratchBytes;
    const pb = pa + 4 * M * K;
    const pc = pb + 4 * K * N;
    for (let i = 0; i < M * K + K * N; i++) H[pa / 4 + i] = Math.cos(i);
    H.fill(1, pc / 4, pc / 4 + M * N);
    // A stored [K, M] (read transposed), B stored [K, N]
    g.run({ ptr: pa, rowStride: 1, colStride: M }, { ptr: pb, rowStride: N, colStride: 1 }, pc, N, M, N, K, true);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 1;
        for (let k = 0; k < K; k++) s += H[pa / 4 + k * M + m]! * H[pb / 4 + k * N + n]!;
        expect(Math.abs(H[pc / 4 + m * N + n]! - s)).toBeLessThan(1e-5);
      }
    }
  });

  it('relaxed-SIMD FMA variant, in a node with the flag (Node 20 does not validate it by default)', () => {
    const script = fileURLToPath(new URL('./fma-check.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('fma ok');
  });

  it('in a node without the flag, setupBackend turns relaxed SIMD on: the FMA GEMM runs (helper threads too) and equals plain SIMD; relaxedSimd: false opts out', async () => {
    const script = fileURLToPath(new URL('./fma-runtime.ts', import.meta.url));
    const env = { ...process.env, PEFTJS_WASM_RELAXED_SIMD: undefined, PEFTJS_WASM_THREADS: undefined };
    const [on, off] = await Promise.all(
      [[], ['opt-out']].map((args) => {
        const child = spawn(process.execPath, ['--conditions=@peftjs/source', '--import', 'tsx', script, ...args], { env });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        return new Promise<Record<string, unknown>>((resolve, reject) =>
          child.on('close', (code) =>
            code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`${code}: ${err}`)),
          ),
        );
      }),
    );
    expect(on).toMatchObject({ fma: true, threads: 2, defaultFma: true, helperReady: true, poolVsOne: 0 });
    expect(on['fmaVsPlain']).toBeLessThan(1e-5);
    expect(on['fmaVsF64']).toBeLessThan(1e-5);
    expect(on['matMulVsF64']).toBeLessThan(1e-5);
    // Node 20 validates relaxed SIMD only with the flag; an engine that ships it (Node 22+) uses FMA either way
    expect(off['fma']).toBe(off['before']);
    expect(off['after']).toBe(off['before']);
    // without `threads` or PEFTJS_WASM_THREADS: 2 GEMM threads where there are 2 cores (README, "Threads")
    expect(off['threads']).toBe(Math.min(2, os.cpus().length));
  }, 120_000);
});

describe('GemmPool: one product split over a helper thread on a shared memory', () => {
  it('equals one thread for column and row bands, with and without accumulation', async () => {
    const memory = new WebAssembly.Memory({ initial: 200, maximum: 65536, shared: true });
    const S = WasmGemm.scratchBytes;
    const main = new WasmGemm(memory, 0, { fma: false });
    const control = new SharedArrayBuffer(GemmPool.controlBytes);
    nodeHelperFactory({ memory, module: main.module, control, work: S + 64 });
    const pool = new GemmPool(main, 1, control);
    const ctrl = new Int32Array(control);
    for (let t = 0; t < 200 && Atomics.load(ctrl, 4) === 0; t++) await new Promise((r) => setTimeout(r, 25));
    expect(Atomics.load(ctrl, 4)).toBe(1);
    const H = new Float32Array(memory.buffer);
    // wide (column bands) and narrow (row bands) products above the parallel threshold, and a
    // decoding row (gemvT on the caller: not split, or the bands' sums would differ in the last bit)
    for (const [M, N, K] of [
      [37, 301, 290],
      [301, 19, 700],
      [1, 4099, 600],
    ] as const) {
      const pa = 2 * S + 256;
      const pb = pa + 4 * M * K;
      const pc = pb + 4 * N * K;
      const pd = pc + 4 * M * N;
      for (let i = 0; i < M * K + N * K; i++) H[pa / 4 + i] = Math.sin(i * 0.7);
      const av = { ptr: pa, rowStride: K, colStride: 1 };
      const bv = { ptr: pb, rowStride: 1, colStride: K };
      for (const acc of [false, true]) {
        H.fill(0.5, pc / 4, pc / 4 + M * N);
        H.fill(0.5, pd / 4, pd / 4 + M * N);
        main.run(av, bv, pd, N, M, N, K, acc);
        pool.run(av, bv, pc, N, M, N, K, acc);
        expect(H.subarray(pc / 4, pc / 4 + M * N)).toEqual(H.subarray(pd / 4, pd / 4 + M * N));
      }
    }
    // batched products too small to split (attention's per-head products): dealt out whole, a batch
    // entry at a time; b repeated (stride 0) as a broadcast operand; A read transposed
    const [B, M, N, K] = [48, 40, 48, 36]; // 3.3M multiply-adds in all, 69K a product
    const pa = 2 * S + 256;
    const pb = pa + 4 * B * M * K;
    const pc = pb + 4 * N * K;
    const pd = pc + 4 * B * M * N;
    for (let i = 0; i < B * M * K + N * K; i++) H[pa / 4 + i] = Math.cos(i * 0.37);
    const av = { ptr: pa, rowStride: 1, colStride: M };
    const bv = { ptr: pb, rowStride: N, colStride: 1 };
    const strides = { a: 4 * M * K, b: 0, c: 4 * M * N };
    const helped = pool.stats.helperWork;
    // a product this small may be done before the helper wakes: repeat until it took entries
    for (let round = 0; round < 50 && pool.stats.helperWork === helped; round++) {
      for (const acc of [false, true]) {
        H.fill(0.25, pc / 4, pc / 4 + B * M * N);
        H.fill(0.25, pd / 4, pd / 4 + B * M * N);
        main.runBatch(av, bv, pd, N, M, N, K, B, strides, acc);
        pool.runBatch(av, bv, pc, N, M, N, K, B, strides, acc);
        expect(H.subarray(pc / 4, pc / 4 + B * M * N)).toEqual(H.subarray(pd / 4, pd / 4 + B * M * N));
      }
    }
    expect(pool.stats.helperWork).toBeGreaterThan(helped); // the helper took batch entries
    pool.stop();
  });
});

/**
 * A plain-SIMD GEMM on a shared memory and a pool with one helper thread running `helperMain(…)`
 * as `call` says (after HELPER_SOURCE), ready; A [M, K] and B [K, N] filled, the one-thread product
 * at `pd`, `pc` free for the pool's.
 */
async function poolWithHelper(call: string, [M, N, K]: [number, number, number]) {
  const memory = new WebAssembly.Memory({ initial: 200, maximum: 65536, shared: true });
  const S = WasmGemm.scratchBytes;
  const main = new WasmGemm(memory, 0, { fma: false });
  const control = new SharedArrayBuffer(GemmPool.controlBytes);
  const code = `${HELPER_SOURCE}\nconst { workerData } = require('node:worker_threads');\n${call}`;
  const worker = new Worker(code, { eval: true, workerData: { memory, module: main.module, control, work: S + 64 } });
  const pool = new GemmPool(main, 1, control);
  for (let t = 0; t < 200 && pool.ready === 0; t++) await new Promise((r) => setTimeout(r, 25));
  expect(pool.ready).toBe(1);
  const H = new Float32Array(memory.buffer);
  const pa = 2 * S + 256;
  const pb = pa + 4 * M * K;
  const [pc, pd] = [pb + 4 * N * K, pb + 4 * N * K + 4 * M * N];
  for (let i = 0; i < M * K + N * K; i++) H[pa / 4 + i] = Math.cos(i * 0.3);
  const av = { ptr: pa, rowStride: K, colStride: 1 };
  const bv = { ptr: pb, rowStride: N, colStride: 1 };
  main.run(av, bv, pd, N, M, N, K);
  return { pool, worker, H, pc, pd, run: () => pool.run(av, bv, pc, N, M, N, K) };
}

describe('GemmPool: a helper that fails', () => {
  it('makes the product throw (no hang, no partial result returned) and leaves the pool; later products run alone and exact', async () => {
    const [M, N] = [64, 1024];
    const { pool, worker, H, pc, pd, run } = await poolWithHelper(
      "console.error = () => {};\nhelperMain(workerData, () => () => { throw new Error('injected'); });",
      [M, N, 256],
    );
    let error: Error | null = null;
    for (let call = 0; call < 50 && !error; call++) {
      try {
        run();
      } catch (e) {
        error = e as Error;
      }
    }
    expect(error?.message).toMatch(/a helper thread failed during a product/);
    expect(pool.ready).toBe(0);
    H.fill(NaN, pc / 4, pc / 4 + M * N);
    run();
    expect(H.subarray(pc / 4, pc / 4 + M * N)).toEqual(H.subarray(pd / 4, pd / 4 + M * N));
    pool.stop();
    await worker.terminate();
  });
});

describe('GemmPool back-off', () => {
  it('a helper that stalls mid-chunk (descheduled) makes the pool run products alone for a while; results stay exact', async () => {
    // the helper sleeps 40 ms after each chunk it computes, as if the OS had taken its core
    const [M, N] = [64, 512];
    const { pool, worker, H, pc, pd, run } = await poolWithHelper(
      'helperMain(workerData, (module, memory) => { const g = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;' +
        ' const z = new Int32Array(new SharedArrayBuffer(4)); return (...args) => { g(...args); Atomics.wait(z, 0, 0, 40); }; });',
      [M, N, 128],
    );
    let differing = 0;
    for (let call = 0; call < 2 * STALL_WINDOW; call++) {
      H.fill(NaN, pc / 4, pc / 4 + M * N);
      run();
      for (let i = 0; i < M * N; i++) if (H[pc / 4 + i] !== H[pd / 4 + i]) differing++;
    }
    expect(differing).toBe(0);
    pool.stop();
    await worker.terminate();
    expect(pool.stats.backoffs).toBe(1);
    expect(pool.stats.parallelCalls).toBe(STALL_WINDOW);
    expect(pool.stats.soloCalls).toBe(STALL_WINDOW);
    expect(pool.stats.stallMs / pool.stats.parallelMs).toBeGreaterThan(pool.stats.helperWork / pool.stats.work);
  });
});

describe('wasm heap limits', () => {
  it('a tensor past what the 4 GB wasm heap can hold is a clear error, and the backend keeps working', async () => {
    await setupBackend({ prefer: 'wasm' });
    const before = tf.memory().numTensors;
    expect(() => tf.zeros([2 ** 20, 2 ** 11])).toThrow(/wasm backend out of memory: a tensor of 8192 MB does not fit/);
    expect(tf.memory().numTensors).toBe(before);
    const y = tf.matMul(tf.ones([2, 3]), tf.ones([3, 2]));
    expect(Array.from(y.dataSync())).toEqual([3, 3, 3, 3]);
    tf.dispose(y);
  });
});
