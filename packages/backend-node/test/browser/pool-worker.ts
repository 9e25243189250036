// Runs in a module Web Worker of a cross-origin-isolated page (browser-pool.test.ts): the GEMM on a
// shared memory split over one Web Worker helper, against one thread and float64.
import { WasmGemm } from '../../src/wasm/gemm/gemm.js';
import { GemmPool } from '../../src/wasm/gemm/pool.js';
import { browserHelperFactory } from '../../src/wasm/gemm/browser-helpers.js';
import { checkProducts } from './products.js';

async function run(): Promise<unknown> {
  const memory = new WebAssembly.Memory({ initial: 200, maximum: 1024, shared: true });
  const S = WasmGemm.scratchBytes;
  const main = new WasmGemm(memory, 0);
  const control = new SharedArrayBuffer(GemmPool.controlBytes);
  browserHelperFactory()({ memory, module: main.module, control, work: S + 64 });
  const pool = new GemmPool(main, 1, control);
  const t0 = performance.now();
  // Chromium starts a nested worker only once this worker's event loop runs: yield, do not block
  // (until then the pool runs products alone)
  while (pool.ready === 0 && performance.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
  const products = checkProducts(memory, main, pool, 2 * S + 256);
  const result = { parallel: pool.parallel, ready: pool.ready, fma: main.fma, helperChunks: pool.helperChunks, products };
  pool.stop();
  return result;
}

run().then(
  (r) => postMessage(r),
  (e: Error) => postMessage({ error: `${e.message}\n${e.stack}` }),
);
