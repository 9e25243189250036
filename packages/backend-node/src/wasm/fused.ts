import { adamUpdate, ema, registerPeftKernel, rmsNorm, rmsNormGrad, rotary, softmaxGrad, swiGlu, swiGluGrad } from '@peftjs/core';
import { wasmAdamUpdate, wasmEma } from './adamw.js';
import { wasmRmsNorm, wasmRmsNormGrad } from './rms-norm.js';
import { wasmRotary } from './rotary.js';
import { wasmSoftmaxGrad } from './softmax-grad.js';
import { wasmSwiGlu, wasmSwiGluGrad } from './swiglu.js';
import { fastPaths, onFastPathsChange } from './state.js';

let unregister: Array<() => void> | null = null;
let listening = false;

/**
 * The fused LLaMA-block kernels on wasm (one file each, JS row loops on the heap): `PeftRotary`,
 * `PeftRmsNorm`(+`Grad`), `PeftSwiGlu`(+`Grad`), `PeftSoftmaxGrad`, and AdamW's `PeftEma` and
 * `PeftAdamUpdate`. Registered while the
 * `fusedKernels` fast path is on; off, the ops run their tfjs fallbacks (the unfused ops).
 */
export function registerWasmFusedKernels(): void {
  if (!listening) {
    listening = true;
    onFastPathsChange(registerWasmFusedKernels);
  }
  if (fastPaths.fusedKernels && !unregister) {
    unregister = [
      registerPeftKernel(rotary, 'wasm', wasmRotary),
      registerPeftKernel(rmsNorm, 'wasm', wasmRmsNorm),
      registerPeftKernel(rmsNormGrad, 'wasm', wasmRmsNormGrad),
      registerPeftKernel(swiGlu, 'wasm', wasmSwiGlu),
      registerPeftKernel(swiGluGrad, 'wasm', wasmSwiGluGrad),
      registerPeftKernel(softmaxGrad, 'wasm', wasmSoftmaxGrad),
      registerPeftKernel(ema, 'wasm', wasmEma),
      registerPeftKernel(adamUpdate, 'wasm', wasmAdamUpdate),
    ];
  } else if (!fastPaths.fusedKernels && unregister) {
    for (const u of unregister) u();
    unregister = null;
  }
}
