// Bundled for a module Web Worker by browser-pool.test.ts: tfjs-backend-wasm's threaded build (one
// XNNPACK thread) with peftjs' BatchMatMul kernel on 2 GEMM threads (a Web Worker helper) on
// tfjs' own shared heap, against the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// the files behind @peftjs/backend-node/browser's exports (not the entry: it also pulls @peftjs/core)
import { browserHelperFactory } from '../../src/wasm/gemm/browser-helpers.js';
import { configureGemmThreads, gemmFor } from '../../src/wasm/gemm-kernels.js';
import { registerWasmMatMulKernel } from '../../src/wasm/matmul.js';
import { GemmPool } from '../../src/wasm/gemm/pool.js';

function values(shape: [number, number], seed: number): tf.Tensor2D {
  return tf.tensor2d(
    Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.sin(seed * 7.31 + i * 1.37)),
    shape,
  );
}

async function run(): Promise<unknown> {
  setWasmPaths(new URL('/wasm/', location.href).href);
  setThreadsCount(1);
  configureGemmThreads(2, browserHelperFactory());
  registerWasmMatMulKernel();
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not start');
  const pool = gemmFor(tf.backend());
  if (!(pool instanceof GemmPool)) return { error: `no GEMM pool on the wasm heap (got ${pool === null ? 'null' : 'one thread'})` };
  const t0 = performance.now();
  while (pool.ready === 0 && performance.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
  // [300, 260]·[530, 260]ᵀ: 41M multiply-adds, split in column bands
  const product = () => tf.tidy(() => tf.matMul(values([300, 260], 1), values([530, 260], 2), false, true).dataSync());
  const got = product();
  await tf.setBackend('cpu');
  const want = product();
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return { parallel: pool.parallel, ready: pool.ready, fma: pool.fma, helperChunks: pool.helperChunks, worst, n: want.length };
}

run().then(
  (r) => postMessage(r),
  (e: Error) => postMessage({ error: `${e.message}\n${e.stack}` }),
);
