/** Emscripten module parts used to guard the tfjs-wasm heap (tfjs-backend-wasm 4.22). */
interface HeapModule {
  _malloc(bytes: number): number;
  asm?: { malloc?: (bytes: number) => number };
  HEAPU8: Uint8Array;
  onAbort?: (what: unknown) => void;
}

/** What a wasm32 heap can address. */
const WASM32_HEAP_LIMIT = 2 ** 32;

export class WasmHeapError extends Error {
  override name = 'WasmHeapError';
}

const guarded = new WeakSet<object>();
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;

function outOfMemory(bytes: number, heap: number): WasmHeapError {
  return new WasmHeapError(
    `wasm backend out of memory: a tensor of ${mb(bytes)} does not fit (the heap is at ${mb(heap)}; ` +
      `a wasm32 heap cannot pass 4 GB). Use a shorter sequence or a smaller batch, gradient accumulation, ` +
      `or the 'tensorflow' backend (@tensorflow/tfjs-node).`,
  );
}

/**
 * Makes running out of wasm memory a clear error instead of `RuntimeError: Aborted()` or a silent
 * wrap: tfjs-wasm passes a tensor's byte size to `malloc` as a 32-bit int (5 GB becomes 705 MB, and
 * the copy that follows overwrites the heap) and stores the tensor at address 0 when `malloc` fails.
 * `malloc` is wrapped to throw a `WasmHeapError` (the tensor is not created, nothing changes), and
 * an abort inside the module says what the heap size was.
 */
export function guardWasmHeap(module: HeapModule): void {
  if (guarded.has(module)) return;
  guarded.add(module);
  const real = module.asm?.malloc ?? module._malloc.bind(module);
  module._malloc = (bytes: number) => {
    if (bytes >= WASM32_HEAP_LIMIT) throw outOfMemory(bytes, module.HEAPU8.byteLength);
    const ptr = real(bytes);
    if (ptr === 0 && bytes > 0) throw outOfMemory(bytes, module.HEAPU8.byteLength);
    return ptr;
  };
  const previous = module.onAbort;
  module.onAbort = (what: unknown) => {
    previous?.(what);
    throw new WasmHeapError(
      `wasm backend aborted (${String(what)}) with its heap at ${mb(module.HEAPU8.byteLength)} of the 4 GB a wasm32 heap can address; ` +
        'most likely out of memory: use a shorter sequence or a smaller batch. The wasm backend cannot be used after this in this process.',
    );
  };
}
