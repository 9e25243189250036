import { registerWasmCrossEntropy } from './cross-entropy.js';
import { registerWasmFusedKernels } from './fused.js';
import { registerWasmGatherKernel } from './gather.js';
import { registerWasmGradients } from './grads.js';
import { registerWasmIdentityKernel } from './identity.js';
import { registerWasmPeftKernels } from './lora.js';
import { registerWasmMatMulKernel } from './matmul.js';
import { registerWasmNf4Kernel } from './nf4.js';
import { registerWasmMaskedSoftmax } from './softmax.js';

/**
 * Every peftjs kernel for tfjs-backend-wasm, and the wasm-aware BatchMatMul/GatherV2 gradients
 * (call after tfjs' own gradients are registered: they stay the fallbacks). Idempotent; no Node
 * API, so a browser's wasm fallback calls it too (`@peftjs/backend-node/browser`). Kernels look
 * their GEMM up per backend at run time, so this may run before or after `setBackend('wasm')`.
 */
export function registerWasmKernels(): void {
  registerWasmGradients();
  registerWasmMatMulKernel();
  registerWasmPeftKernels();
  registerWasmNf4Kernel();
  registerWasmIdentityKernel();
  registerWasmGatherKernel();
  registerWasmCrossEntropy();
  registerWasmMaskedSoftmax();
  registerWasmFusedKernels();
}
