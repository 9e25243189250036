export { setupBackend } from './setup.js';
export type { BackendInfo, BackendName, SetupOptions } from './setup.js';
export { ensureGradients } from './gradients.js';
export { setWasmFastPaths, allWasmFastPaths } from './wasm/state.js';
export type { WasmFastPaths } from './wasm/state.js';
export { registerWasmGradients } from './wasm/grads.js';
export { registerWasmMatMulKernel } from './wasm/matmul.js';
