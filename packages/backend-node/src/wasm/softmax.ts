import type * as tf from '@tensorflow/tfjs-core';
import { maskedSoftmax, registerPeftKernel } from '@peftjs/core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { elementwiseFor } from './elementwise/module.js';
import { broadcastRows, heapMemory } from './rows.js';
import { fastPaths } from './state.js';

type Info = tf.TensorInfo;

/** softmax(scores + bias) row by row on the heap: SIMD rows when S is a multiple of 4 and the bias has S columns, else JS (float64 sums). */
function forward(backend: WasmHeapBackend, scores: Info, bias: Info): Info {
  const S = scores.shape[scores.shape.length - 1]!;
  const rows = scores.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const bS = bias.shape[bias.shape.length - 1] ?? 1;
  if (bias.shape.length > scores.shape.length || (bS !== S && bS !== 1)) {
    throw new Error(`PeftMaskedSoftmax: bias [${bias.shape}] does not broadcast to scores [${scores.shape}]`);
  }
  const bRows = broadcastRows(scores.shape.slice(0, -1), bias.shape.slice(0, -1));
  const out = backend.makeOutput([...scores.shape], 'float32');
  if (fastPaths.fusedKernels && S % 4 === 0 && bS === S) {
    // rows of whole f32x4 lanes: the elementwise SIMD module, one call per row
    const row = elementwiseFor(heapMemory(backend, 'PeftMaskedSoftmax')).softmax_row;
    const [px, pb, py] = [ptrOf(backend, scores), ptrOf(backend, bias), ptrOf(backend, out)];
    for (let r = 0; r < rows; r++) row(px + 4 * r * S, pb + 4 * bRows[r]! * S, py + 4 * r * S, 4 * S);
    return out;
  }
  const m = heapMemory(backend, 'PeftMaskedSoftmax');
  const x = new Float32Array(m.buffer, ptrOf(backend, scores), rows * S);
  const b = new Float32Array(
    m.buffer,
    ptrOf(backend, bias),
    bias.shape.reduce((p, d) => p * d, 1),
  );
  const y = new Float32Array(m.buffer, ptrOf(backend, out), rows * S);
  for (let r = 0; r < rows; r++) {
    const o = r * S;
    const bo = bRows[r]! * bS;
    let max = -Infinity;
    for (let j = 0; j < S; j++) {
      const v = x[o + j]! + b[bS === 1 ? bo : bo + j]!;
      y[o + j] = v;
      if (v > max) max = v;
    }
    let sum = 0;
    for (let j = 0; j < S; j++) {
      const e = Math.exp(y[o + j]! - max);
      y[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < S; j++) y[o + j] = y[o + j]! * inv;
  }
  return out;
}

let registered = false;

/** `PeftMaskedSoftmax` on wasm: row by row on the heap (its gradient is the op's own, `PeftSoftmaxGrad`). */
export function registerWasmMaskedSoftmax(): void {
  if (registered) return;
  registered = true;
  registerPeftKernel(maskedSoftmax, 'wasm', ({ inputs, backend }) => {
    const { scores, bias } = inputs;
    if (scores.dtype !== 'float32' || bias.dtype !== 'float32') throw new Error('PeftMaskedSoftmax on wasm: float32 inputs expected');
    return forward(backend as unknown as WasmHeapBackend, scores, bias);
  });
}
