import { HELPER_SOURCE, type HelperFactory } from './pool.js';

/**
 * GEMM helper threads in a browser: module Web Workers running pool.ts' helper loop (the same
 * source text as Node's worker_threads helpers), started from a `blob:` URL so no bundler setup
 * is needed. Each receives the shared wasm memory, the compiled GEMM module and the control block
 * in one message, then sleeps in `Atomics.wait` between products.
 *
 * Needs a cross-origin-isolated page (`Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`): without it there is no `SharedArrayBuffer` to
 * share (tfjs-wasm's threaded build needs the same headers). A page whose CSP forbids `blob:`
 * workers needs `worker-src blob:`. Use the pool from a Web Worker (the page's main thread may
 * not block; there `GemmPool` runs every product on the calling thread).
 */
export function browserHelperFactory(): HelperFactory {
  if (typeof Worker === 'undefined') throw new Error('browserHelperFactory: no Web Worker here');
  if (globalThis.crossOriginIsolated !== true)
    throw new Error(
      'browserHelperFactory: the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so no SharedArrayBuffer can be shared',
    );
  const code =
    `${HELPER_SOURCE}\n` +
    'self.onmessage = (e) => { self.onmessage = null; ' +
    'helperMain(e.data, (module, memory) => new WebAssembly.Instance(module, { env: { memory } }).exports.gemm); };\n';
  const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
  return (init) => {
    const worker = new Worker(url, { type: 'module', name: 'peftjs-gemm-helper' });
    worker.postMessage(init);
  };
}
