/**
 * Which wasm fast paths are on. All default on; each can be turned off to compare against the stock
 * tfjs kernels and gradients (the bench does), and none is active on other backends.
 */
export interface WasmFastPaths {
  /** peftjs' SIMD GEMM (src/wasm/gemm) for BatchMatMul and PeftLoraMatMul: the other matMul paths below then do not run. */
  gemm: boolean;
  /** Identity shares its input's data instead of copying (tfjs clones every tensor a gradient saves). */
  sharedIdentity: boolean;
  /** BatchMatMul kernel: explicit transposes and batch folding so XNNPACK runs. */
  matMulKernel: boolean;
  /** Keep bᵀ of a batch-1 right operand while its data lives (frozen weights: once). */
  cacheTransposedWeights: boolean;
  /** Batched products (attention) in their fastest loop form: a plain, b transposed. */
  batchedTransposeB: boolean;
  /** BatchMatMul gradient: explicit transposes, then matMuls without transpose flags. */
  matMulGradient: boolean;
  /** GatherV2 gradient: JS scatter-add (wasm has no UnsortedSegmentSum kernel). */
  gatherGradient: boolean;
  /** GatherV2 kernel on axis 0 (embedding lookups): whole rows copied (the stock kernel copies element by element). */
  gatherKernel: boolean;
  /** Kernels of the fused ops PeftRotary, PeftRmsNorm, PeftSwiGlu, PeftSoftmaxGrad (off: their tfjs fallbacks), and SIMD rows in PeftMaskedSoftmax (off: JS rows). */
  fusedKernels: boolean;
}

export const fastPaths: WasmFastPaths = {
  gemm: true,
  sharedIdentity: true,
  matMulKernel: true,
  cacheTransposedWeights: true,
  batchedTransposeB: true,
  matMulGradient: true,
  gatherGradient: true,
  gatherKernel: true,
  fusedKernels: true,
};

const listeners: Array<() => void> = [];

/** Calls `fn` after every `setWasmFastPaths` (kernel registrations that follow a flag). */
export function onFastPathsChange(fn: () => void): void {
  listeners.push(fn);
}

/** Turns wasm fast paths on or off; returns the previous settings. */
export function setWasmFastPaths(settings: Partial<WasmFastPaths>): WasmFastPaths {
  const previous = { ...fastPaths };
  Object.assign(fastPaths, settings);
  for (const fn of listeners) fn();
  return previous;
}

/** All fast paths on (`true`) or off (`false`). */
export function allWasmFastPaths(on: boolean): WasmFastPaths {
  return {
    gemm: on,
    sharedIdentity: on,
    matMulKernel: on,
    cacheTransposedWeights: on,
    batchedTransposeB: on,
    matMulGradient: on,
    gatherGradient: on,
    gatherKernel: on,
    fusedKernels: on,
  };
}
