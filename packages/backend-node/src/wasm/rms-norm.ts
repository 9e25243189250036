import type * as tf from '@tensorflow/tfjs-core';
import type { PeftKernelArgs, RmsNormAttrs } from '@peftjs/core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { elementwiseFor } from './elementwise/module.js';
import { heapF32, heapMemory, sizeOf } from './rows.js';

type Backend = WasmHeapBackend;

function check(x: tf.TensorInfo, weight: tf.TensorInfo): number {
  const D = x.shape[x.shape.length - 1]!;
  if (sizeOf(weight.shape) !== D) throw new Error(`PeftRmsNorm: weight [${weight.shape}] does not match x [${x.shape}]'s last axis`);
  return D;
}

/** 1/√(mean(x²) + eps) of the row of D values at o (float64 sum). */
function rowScale(X: Float32Array, o: number, D: number, eps: number): number {
  let s = 0;
  for (let j = 0; j < D; j++) s += X[o + j]! * X[o + j]!;
  return 1 / Math.sqrt(Math.fround(s / D) + eps);
}

/** `PeftRmsNorm` on wasm: x·r·w with r = rsqrt(mean(x²) + eps), row by row (SIMD rows when D is a multiple of 4). */
export function wasmRmsNorm({ inputs, attrs, backend: b }: PeftKernelArgs<'x' | 'weight', RmsNormAttrs>): tf.TensorInfo {
  const backend = b as unknown as Backend;
  const { x, weight } = inputs;
  const D = check(x, weight);
  const out = backend.makeOutput([...x.shape], 'float32');
  if (D % 4 === 0) {
    const row = elementwiseFor(heapMemory(backend, 'PeftRmsNorm')).rms_norm_row;
    const [px, pw, py] = [x, weight, out].map((t) => ptrOf(backend, t)) as [number, number, number];
    for (let o = 0, n = sizeOf(x.shape); o < n; o += D) row(px + 4 * o, pw, py + 4 * o, 4 * D, attrs.eps);
    return out;
  }
  const [X, W, Y] = [x, weight, out].map((t) => heapF32(backend, t, 'PeftRmsNorm')) as [Float32Array, Float32Array, Float32Array];
  for (let o = 0; o < X.length; o += D) {
    const r = rowScale(X, o, D, attrs.eps);
    for (let j = 0; j < D; j++) Y[o + j] = X[o + j]! * r * W[j]!;
  }
  return out;
}

/** `PeftRmsNormGrad` on wasm: dx = r·(g − n·mean(g·n)) with g = dy·w, n = x·r; dw = Σ_rows dy·n. */
export function wasmRmsNormGrad({
  inputs,
  attrs,
  backend: b,
}: PeftKernelArgs<'dy' | 'x' | 'weight', RmsNormAttrs & { wrt: 'x' | 'weight' }>): tf.TensorInfo {
  const backend = b as unknown as Backend;
  const { dy, x, weight } = inputs;
  const D = check(x, weight);
  const out = backend.makeOutput([...(attrs.wrt === 'x' ? x.shape : weight.shape)], 'float32');
  if (attrs.wrt === 'x' && D % 4 === 0) {
    const row = elementwiseFor(heapMemory(backend, 'PeftRmsNormGrad')).rms_norm_dx_row;
    const [pg, px, pw, po] = [dy, x, weight, out].map((t) => ptrOf(backend, t)) as [number, number, number, number];
    for (let o = 0, n = sizeOf(x.shape); o < n; o += D) row(pg + 4 * o, px + 4 * o, pw, po + 4 * o, 4 * D, attrs.eps);
    return out;
  }
  const [G, X, W, O] = [dy, x, weight, out].map((t) => heapF32(backend, t, 'PeftRmsNormGrad')) as Float32Array[] as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  if (attrs.wrt === 'weight') {
    const dw = new Float64Array(D);
    for (let o = 0; o < X.length; o += D) {
      const r = rowScale(X, o, D, attrs.eps);
      for (let j = 0; j < D; j++) dw[j] += G[o + j]! * X[o + j]! * r;
    }
    O.set(dw);
    return out;
  }
  for (let o = 0; o < X.length; o += D) {
    const r = rowScale(X, o, D, attrs.eps);
    let gx = 0;
    for (let j = 0; j < D; j++) gx += G[o + j]! * W[j]! * X[o + j]!;
    // mean(g·n)·r = r²·Σ(g·x)/D
    const m = (r * r * gx) / D;
    for (let j = 0; j < D; j++) O[o + j] = r * (G[o + j]! * W[j]! - X[o + j]! * m);
  }
  return out;
}
