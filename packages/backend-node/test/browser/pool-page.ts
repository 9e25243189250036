// The page of browser-pool.test.ts: on the page's main thread (which may not block) the pool must
// run alone and still be right; then the worker runs it over a Web Worker helper.
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
  while (pool.ready === 0 && performance.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
  const page = { parallel: pool.parallel, ready: pool.ready, helperChunks: 0, products: checkProducts(memory, main, pool, 2 * S + 256) };
  page.helperChunks = pool.helperChunks;
  pool.stop();
  const worker = new Worker(new URL('./pool-worker.js', import.meta.url), { type: 'module' });
  const inWorker = await new Promise((resolve) => (worker.onmessage = (e) => resolve(e.data)));
  worker.terminate();
  return { crossOriginIsolated, page, worker: inWorker };
}

(globalThis as unknown as { poolResult: Promise<unknown> }).poolResult = run().catch((e: Error) => ({ error: `${e.message}\n${e.stack}` }));
