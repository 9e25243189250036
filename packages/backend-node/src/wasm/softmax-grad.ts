import type * as tf from '@tensorflow/tfjs-core';
import type { PeftKernelArgs } from '@peftjs/core';
import type { WasmHeapBackend } from './gemm-kernels.js';
import { heapF32, sameShape } from './rows.js';

/** `PeftSoftmaxGrad` on wasm: per row, p·(dy − Σ dy·p) (float64 sum). */
export function wasmSoftmaxGrad({ inputs, backend: b }: PeftKernelArgs<'dy' | 'probs', Record<string, never>>): tf.TensorInfo {
  const backend = b as unknown as WasmHeapBackend;
  const { dy, probs } = inputs;
  sameShape('PeftSoftmaxGrad dy and probs', dy, probs);
  const S = probs.shape[probs.shape.length - 1] ?? 1;
  const out = backend.makeOutput([...probs.shape], 'float32');
  const [D, P, O] = [dy, probs, out].map((t) => heapF32(backend, t, 'PeftSoftmaxGrad')) as [Float32Array, Float32Array, Float32Array];
  for (let o = 0; o < P.length; o += S) {
    let dot = 0;
    for (let j = 0; j < S; j++) dot += D[o + j]! * P[o + j]!;
    for (let j = 0; j < S; j++) O[o + j] = P[o + j]! * (D[o + j]! - dot);
  }
  return out;
}
