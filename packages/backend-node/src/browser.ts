/**
 * `@peftjs/backend-node/browser`: peftjs' wasm kernels for tfjs-backend-wasm in a browser (the
 * wasm fallback of a training page), without any Node API. Call `configureGemmThreads(n,
 * browserHelperFactory())` and `registerWasmKernels()` (or the single `registerWasm*` functions) from
 * the page's training Web Worker on a cross-origin-isolated page (COOP/COEP headers): tfjs then
 * loads its threaded build, whose shared heap the GEMM helpers (module Web Workers) work on.
 * Relaxed-SIMD FMA is chosen when the engine validates it (Chromium does); no flag is touched.
 */
export { WasmGemm, relaxedSimdSupported } from './wasm/gemm/gemm.js';
export type { MatView } from './wasm/gemm/gemm.js';
export { GemmPool } from './wasm/gemm/pool.js';
export type { HelperFactory, HelperInit } from './wasm/gemm/pool.js';
export { browserHelperFactory } from './wasm/gemm/browser-helpers.js';
export { configureGemmThreads, gemmFmaOf, gemmPoolStatsOf, gemmThreadsOf } from './wasm/gemm-kernels.js';
export { setWasmFastPaths, allWasmFastPaths } from './wasm/state.js';
export type { WasmFastPaths } from './wasm/state.js';
export { registerWasmKernels } from './wasm/register.js';
export { registerWasmGradients } from './wasm/grads.js';
export { registerWasmMatMulKernel } from './wasm/matmul.js';
export { registerWasmPeftKernels } from './wasm/lora.js';
export { registerWasmIdentityKernel } from './wasm/identity.js';
export { registerWasmGatherKernel } from './wasm/gather.js';
export { registerWasmCrossEntropy } from './wasm/cross-entropy.js';
export { registerWasmMaskedSoftmax } from './wasm/softmax.js';
export { registerWasmFusedKernels } from './wasm/fused.js';
export { registerWasmNf4Kernel } from './wasm/nf4.js';
export { WasmHeapError } from './wasm/heap.js';
