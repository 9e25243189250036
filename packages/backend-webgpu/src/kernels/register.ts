import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { loraMatMul, nf4MatMul, registerPeftKernel } from '@peftjs/core';
import { gemm } from './gemm.js';
import { nf4Kernel } from './nf4.js';
import { registerBitwiseAnd } from './bitwise.js';
import { registerChunkedAddN } from './addn.js';

/** This package's product kernel on 'webgpu' (used by the gradients below; not differentiable itself). */
export const GEMM_KERNEL = 'PeftWebGPUGemm';

interface GemmAttrs {
  transA?: boolean;
  transB?: boolean;
  transQ?: boolean;
  alpha?: number;
  beta?: number;
}

/** α·op(a)·op(b) (+ β·p·op(q)) as a tensor, through the engine (so it is tracked and disposable). */
export function gemmOp(a: tf.Tensor, b: tf.Tensor, attrs: GemmAttrs = {}, p?: tf.Tensor, q?: tf.Tensor): tf.Tensor {
  const inputs: tf.NamedTensorMap = p && q ? { a, b, p, q } : { a, b };
  return tf.engine().runKernel(GEMM_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

const onWebGPU = () => tf.getBackend() === 'webgpu' && tf.getKernel(GEMM_KERNEL, 'webgpu') != null;

/**
 * Gradients of `PeftLoraMatMul` (y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ) with the low-rank terms fused into the
 * products' epilogues on webgpu; core's gradient (tfjs ops) elsewhere.
 *   dX = dY·W + s·(dY·B)·A    dW = dYᵀ·x    dA = s·(dY·B)ᵀ·x    dB = s·dYᵀ·(x·Aᵀ)
 */
function registerLoraGradient(): void {
  const { spec } = loraMatMul;
  tf.registerGradient({
    kernelName: spec.kernelName,
    inputsToSave: [...spec.inputNames],
    gradFunc: (dy, saved, attrs) => {
      const [x, weight, loraA, loraB] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const { scaling } = attrs as unknown as { scaling: number };
      const d = dy as tf.Tensor;
      if (!onWebGPU()) return spec.gradient(d, { x, weight, loraA, loraB }, { scaling });
      return {
        x: () => tf.tidy(() => gemmOp(d, weight, { beta: scaling }, gemmOp(d, loraB), loraA)),
        weight: () => gemmOp(d, x, { transA: true }),
        loraA: () => tf.tidy(() => gemmOp(gemmOp(d, loraB), x, { transA: true, alpha: scaling })),
        loraB: () => tf.tidy(() => gemmOp(d, gemmOp(x, loraA, { transB: true }), { transA: true, alpha: scaling })),
      };
    },
  });
}

let registered = false;

/** Registers this package's WGSL kernels for core's Peft ops on 'webgpu' (once). */
export function registerWebGPUKernels(): void {
  if (registered) return;
  tf.registerKernel({
    kernelName: GEMM_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { a, b, p, q } = inputs as Record<string, tf.TensorInfo>;
      return gemm(backend as WebGPUBackend, a!, b!, { ...(attrs as GemmAttrs), p, q });
    },
  });
  registerLoraGradient();
  registerPeftKernel(loraMatMul, 'webgpu', ({ inputs, attrs, backend }) => {
    const gpu = backend as WebGPUBackend;
    // x·Aᵀ [N, r], then x·Wᵀ with s·(x·Aᵀ)·Bᵀ added in the same pass
    const xa = gemm(gpu, inputs.x, inputs.loraA, { transB: true });
    const y = gemm(gpu, inputs.x, inputs.weight, { transB: true, p: xa, q: inputs.loraB, transQ: true, beta: attrs.scaling });
    gpu.disposeData(xa.dataId);
    return y;
  });
  registerPeftKernel(nf4MatMul, 'webgpu', nf4Kernel);
  registerBitwiseAnd();
  registerChunkedAddN();
  registered = true;
}
