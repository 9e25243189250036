import type * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, crossEntropyGrad, IGNORE_INDEX, registerPeftKernel } from '@peftjs/core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { elementwiseFor, type ElementwiseModule } from './elementwise/module.js';
import { heapMemory } from './rows.js';
import { fastPaths } from './state.js';

type Info = tf.TensorInfo;

const heapOf = (backend: WasmHeapBackend) => heapMemory(backend, 'PeftCrossEntropy').buffer;

/** Per row: log Σ exp(x) (float64), or NaN for an ignored row. */
function rowLse(x: Float32Array, labels: Int32Array, N: number, C: number): Float64Array {
  const lse = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    if (labels[n] === IGNORE_INDEX) {
      lse[n] = NaN;
      continue;
    }
    const o = n * C;
    let max = -Infinity;
    for (let c = 0; c < C; c++) if (x[o + c]! > max) max = x[o + c]!;
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(x[o + c]! - max);
    lse[n] = max + Math.log(s);
  }
  return lse;
}

function views(backend: WasmHeapBackend, logits: Info, labels: Info) {
  const [N, C] = logits.shape as [number, number];
  const buf = heapOf(backend);
  return {
    N,
    C,
    x: new Float32Array(buf, ptrOf(backend, logits), N * C),
    lab: new Int32Array(buf, ptrOf(backend, labels), N),
  };
}

/** Forward: the mean over kept rows of lse − x[label], read in place on the heap. */
function forward(backend: WasmHeapBackend, logits: Info, labels: Info): Info {
  const [N, C] = logits.shape as [number, number];
  if (fastPaths.fusedKernels && C % 4 === 0) return simdForward(backend, logits, labels, N, C);
  const { x, lab } = views(backend, logits, labels);
  const lse = rowLse(x, lab, N, C);
  let sum = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    const l = lab[n]!;
    if (l === IGNORE_INDEX) continue;
    // a label outside [0, C) adds 0 to the sum but counts, as the fallback's all-zero one-hot row
    if (l >= 0 && l < C) sum += lse[n]! - x[n * C + l]!;
    count++;
  }
  const out = backend.makeOutput([], 'float32');
  new Float32Array(heapOf(backend), ptrOf(backend, out), 1)[0] = sum / count;
  return out;
}

/** Gradient: dy·(softmax − onehot)/count on kept rows, written straight into the output. */
function gradient(backend: WasmHeapBackend, logits: Info, labels: Info, dy: Info): Info {
  const { N, C } = views(backend, logits, labels);
  const out = backend.makeOutput([N, C], 'float32');
  const { x, lab } = views(backend, logits, labels); // makeOutput may have grown the heap
  const g = new Float32Array(heapOf(backend), ptrOf(backend, out), N * C);
  const d = new Float32Array(heapOf(backend), ptrOf(backend, dy), 1)[0]!;
  let count = 0;
  for (let n = 0; n < N; n++) if (lab[n] !== IGNORE_INDEX) count++;
  const scale = d / Math.max(count, 1);
  if (fastPaths.fusedKernels && C % 4 === 0) {
    simdGradient(backend, logits, out, lab, N, C, scale);
    return out;
  }
  const lse = rowLse(x, lab, N, C);
  for (let n = 0; n < N; n++) {
    const o = n * C;
    if (lab[n] === IGNORE_INDEX) {
      g.fill(0, o, o + C);
      continue;
    }
    const m = lse[n]!;
    for (let c = 0; c < C; c++) g[o + c] = scale * Math.exp(x[o + c]! - m);
    const l = lab[n]!;
    if (l >= 0 && l < C) g[o + l] = g[o + l]! - scale;
  }
  return out;
}

/** A row's max m and Σ exp(x − m) from the elementwise SIMD module (rows of whole f32x4 lanes). */
function rowMaxSum(ew: ElementwiseModule, ptr: number, C: number): [number, number] {
  const m = ew.max_row(ptr, 4 * C);
  return [m, ew.exp_sum_row(ptr, 4 * C, m)];
}

/**
 * The loss through the elementwise SIMD module: per kept row, lse − x[label] with lse = m + log Σ
 * exp(x − m) (the sum is ≥ 1, so no probability has to be representable: a confidently wrong row,
 * p[label] below float32's range, costs no more than any other), combined in float64.
 */
function simdForward(backend: WasmHeapBackend, logits: Info, labels: Info, N: number, C: number): Info {
  const out = backend.makeOutput([], 'float32');
  const ew = elementwiseFor(heapMemory(backend, 'PeftCrossEntropy'));
  const { x, lab } = views(backend, logits, labels);
  const px = ptrOf(backend, logits);
  let sum = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    const l = lab[n]!;
    if (l === IGNORE_INDEX) continue;
    count++;
    if (l < 0 || l >= C) continue; // adds 0 but counts, as the fallback's all-zero one-hot row
    const [m, s] = rowMaxSum(ew, px + 4 * n * C, C);
    sum += m + Math.log(s) - x[n * C + l]!;
  }
  new Float32Array(heapOf(backend), ptrOf(backend, out), 1)[0] = sum / count;
  return out;
}

/**
 * The gradient's rows through the elementwise SIMD module: for each kept row, y = (scale/Σ)·exp(x − m)
 * in one pass, then the label's entry lowered by `scale`; ignored rows are zeroed.
 */
function simdGradient(backend: WasmHeapBackend, logits: Info, out: Info, lab: Int32Array, N: number, C: number, scale: number): void {
  const ew = elementwiseFor(heapMemory(backend, 'PeftCrossEntropyGrad'));
  const [px, pg] = [ptrOf(backend, logits), ptrOf(backend, out)];
  const g = new Float32Array(heapOf(backend), pg, N * C);
  for (let n = 0; n < N; n++) {
    const o = n * C;
    if (lab[n] === IGNORE_INDEX) {
      g.fill(0, o, o + C);
      continue;
    }
    const [m, s] = rowMaxSum(ew, px + 4 * o, C);
    ew.exp_row(px + 4 * o, pg + 4 * o, 4 * C, m, scale / s);
    const l = lab[n]!;
    if (l >= 0 && l < C) g[o + l] = g[o + l]! - scale;
  }
}

let registered = false;

/**
 * `PeftCrossEntropy` and its gradient on wasm, in JS on the heap: no log-probabilities and no
 * one-hot [N, C] (at the SmolLM vocabulary and 1×512 tokens each is 100 MB), one pass for the
 * loss and one for the gradient.
 */
export function registerWasmCrossEntropy(): void {
  if (registered) return;
  registered = true;
  registerPeftKernel(crossEntropy, 'wasm', ({ inputs, backend }) => {
    const { logits, labels } = inputs;
    if (logits.dtype !== 'float32' || labels.dtype !== 'int32')
      throw new Error('PeftCrossEntropy on wasm: float32 logits and int32 labels expected');
    return forward(backend as unknown as WasmHeapBackend, logits, labels);
  });
  registerPeftKernel(crossEntropyGrad, 'wasm', ({ inputs, backend }) =>
    gradient(backend as unknown as WasmHeapBackend, inputs.logits, inputs.labels, inputs.dy),
  );
}
