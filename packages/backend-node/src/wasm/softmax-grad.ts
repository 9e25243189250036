import type * as tf from '@tensorflow/tfjs-core';
import type { PeftKernelArgs } from '@peftjs/core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { elementwiseFor } from './elementwise/module.js';
import { heapF32, heapMemory, sameShape, sizeOf } from './rows.js';

/**
 * `PeftSoftmaxGrad` on wasm: per row, p·(dy − Σ dy·p) — SIMD rows (elementwise module, f32 lane
 * sums) when the row length is a multiple of 4, else JS (float64 sum).
 */
export function wasmSoftmaxGrad({ inputs, backend: b }: PeftKernelArgs<'dy' | 'probs', Record<string, never>>): tf.TensorInfo {
  const backend = b as unknown as WasmHeapBackend;
  const { dy, probs } = inputs;
  sameShape('PeftSoftmaxGrad dy and probs', dy, probs);
  const S = probs.shape[probs.shape.length - 1] ?? 1;
  const out = backend.makeOutput([...probs.shape], 'float32');
  if (S % 4 === 0) {
    const row = elementwiseFor(heapMemory(backend, 'PeftSoftmaxGrad')).softmax_grad_row;
    const [pd, pp, po] = [dy, probs, out].map((t) => ptrOf(backend, t)) as [number, number, number];
    const rows = sizeOf(probs.shape) / S;
    for (let r = 0; r < rows; r++) row(pd + 4 * r * S, pp + 4 * r * S, po + 4 * r * S, 4 * S);
    return out;
  }
  const [D, P, O] = [dy, probs, out].map((t) => heapF32(backend, t, 'PeftSoftmaxGrad')) as [Float32Array, Float32Array, Float32Array];
  for (let o = 0; o < P.length; o += S) {
    let dot = 0;
    for (let j = 0; j < S; j++) dot += D[o + j]! * P[o + j]!;
    for (let j = 0; j < S; j++) O[o + j] = P[o + j]! * (D[o + j]! - dot);
  }
  return out;
}
