// Run by gemm.test.ts in a plain `node` (no --experimental-wasm-relaxed-simd): setupBackend turns
// relaxed SIMD on at run time; the FMA GEMM is chosen, also in a worker_threads helper, and equals
// the plain SIMD GEMM and float64 within 1e-5 of the terms. Prints one JSON line.
// With `opt-out`: `relaxedSimd: false` leaves V8's flags alone (and no `threads`: the default count).
import * as tf from '@tensorflow/tfjs-core';
import { relaxedSimdSupported, setupBackend, WasmGemm } from '../src/index.js';
import { GemmPool } from '../src/wasm/gemm/pool.js';
import { nodeHelperFactory } from '../src/wasm/gemm/node-helpers.js';

const before = relaxedSimdSupported();
if (process.argv[2] === 'opt-out') {
  const info = await setupBackend({ prefer: 'wasm', relaxedSimd: false });
  console.log(JSON.stringify({ before, fma: info.fma, after: relaxedSimdSupported(), reason: info.reason, threads: info.threads }));
  process.exit(0);
}
const info = await setupBackend({ prefer: 'wasm', threads: 2 });

// a product above the pool's threshold, on a shared memory of our own, FMA over 2 threads vs plain
const [M, N, K] = [37, 301, 290];
const memory = new WebAssembly.Memory({ initial: 200, maximum: 65536, shared: true });
const S = WasmGemm.scratchBytes;
const fma = new WasmGemm(memory, 0);
const plain = new WasmGemm(memory, 0, { fma: false });
const control = new SharedArrayBuffer(GemmPool.controlBytes);
nodeHelperFactory({ memory, module: fma.module, control, work: S + 64 });
const pool = new GemmPool(fma, 1, control);
for (let t = 0; t < 400 && Atomics.load(new Int32Array(control), 4) === 0; t++) await new Promise((r) => setTimeout(r, 25));
const helperReady = Atomics.load(new Int32Array(control), 4) === 1;
const H = new Float32Array(memory.buffer);
const pa = 2 * S + 256;
const pb = pa + 4 * M * K;
const [pPool, pOne, pPlain] = [0, 1, 2].map((i) => pb + 4 * N * K + i * 4 * M * N);
for (let i = 0; i < M * K + N * K; i++) H[pa / 4 + i] = Math.sin(i * 0.7);
const a = { ptr: pa, rowStride: K, colStride: 1 };
const b = { ptr: pb, rowStride: 1, colStride: K };
pool.run(a, b, pPool!, N, M, N, K);
fma.run(a, b, pOne!, N, M, N, K);
plain.run(a, b, pPlain!, N, M, N, K);
pool.stop();
let poolVsOne = 0;
let fmaVsPlain = 0;
let fmaVsF64 = 0;
for (let m = 0; m < M; m++) {
  for (let n = 0; n < N; n++) {
    let s = 0;
    let terms = 0;
    for (let k = 0; k < K; k++) {
      const t = H[pa / 4 + m * K + k]! * H[pb / 4 + n * K + k]!;
      s += t;
      terms += Math.abs(t);
    }
    const at = (p: number) => H[p / 4 + m * N + n]!;
    poolVsOne = Math.max(poolVsOne, Math.abs(at(pPool!) - at(pOne!)));
    fmaVsPlain = Math.max(fmaVsPlain, Math.abs(at(pOne!) - at(pPlain!)) / terms);
    fmaVsF64 = Math.max(fmaVsF64, Math.abs(at(pOne!) - s) / terms);
  }
}
// and tf.matMul on the backend's own (2-thread) GEMM
const x = tf.tensor2d(
  Float32Array.from({ length: 128 * 300 }, (_, i) => Math.cos(i * 0.3)),
  [128, 300],
);
const w = tf.tensor2d(
  Float32Array.from({ length: 300 * 200 }, (_, i) => Math.sin(i * 0.11)),
  [300, 200],
);
const y = tf.matMul(x, w).dataSync();
const [xs, ws] = [x.dataSync(), w.dataSync()];
let matMulVsF64 = 0;
for (let m = 0; m < 128; m++) {
  for (let n = 0; n < 200; n++) {
    let s = 0;
    let terms = 0;
    for (let k = 0; k < 300; k++) {
      s += xs[m * 300 + k]! * ws[k * 200 + n]!;
      terms += Math.abs(xs[m * 300 + k]! * ws[k * 200 + n]!);
    }
    matMulVsF64 = Math.max(matMulVsF64, Math.abs(y[m * 200 + n]! - s) / terms);
  }
}
console.log(
  JSON.stringify({
    before,
    fma: info.fma,
    threads: info.threads,
    reason: info.reason,
    defaultFma: fma.fma,
    helperReady,
    poolVsOne,
    fmaVsPlain,
    fmaVsF64,
    matMulVsF64,
  }),
);
