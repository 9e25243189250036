import { loraMatMul, registerPeftKernel } from '@peftjs/core';
import { gemmFor, gemmLoraMatMul, type WasmHeapBackend } from './gemm-kernels.js';
import { fastPaths, onFastPathsChange } from './state.js';

let unregister: (() => void) | null = null;
let listening = false;

/**
 * The fused `PeftLoraMatMul` kernel on wasm (peftjs' GEMM; W, A and B read in place). Its gradient
 * is the op's own (core/src/ops/lora-matmul.ts), whose matMuls run on the GEMM through BatchMatMul.
 * Registered while the `gemm` fast path is on (the op falls back to plain tfjs ops otherwise).
 */
export function registerWasmPeftKernels(): void {
  if (!listening) {
    listening = true;
    onFastPathsChange(registerWasmPeftKernels);
  }
  if (fastPaths.gemm && !unregister) {
    unregister = registerPeftKernel(loraMatMul, 'wasm', ({ inputs, attrs, backend }) => {
      const g = gemmFor(backend);
      if (!g) throw new Error('PeftLoraMatMul: the wasm backend does not expose its heap (tfjs-backend-wasm 4.22 expected)');
      const { x, weight, loraA, loraB } = inputs;
      if ([x, weight, loraA, loraB].some((t) => t.dtype !== 'float32')) throw new Error('PeftLoraMatMul on wasm: float32 inputs expected');
      return gemmLoraMatMul(g, backend as unknown as WasmHeapBackend, x, weight, loraA, loraB, attrs.scaling);
    });
  } else if (!fastPaths.gemm && unregister) {
    unregister();
    unregister = null;
  }
}
