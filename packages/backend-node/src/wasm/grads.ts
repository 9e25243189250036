import * as tf from '@tensorflow/tfjs-core';
import { fastPaths } from './state.js';

type GradFunc = tf.GradConfig['gradFunc'];
type Grads = ReturnType<GradFunc>;

let stockMatMulGrad: tf.GradConfig | null = null;
let stockGatherGrad: tf.GradConfig | null = null;

const onWasm = () => tf.getBackend() === 'wasm';
/** Backends whose tensors live in JS-readable memory, where a JS scatter-add beats the stock gradient (cpu's UnsortedSegmentSum runs one op per row). */
const onJsMemory = () => tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';
const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** x with its last two axes swapped. */
function t(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return tf.transpose(x, perm);
}

/** Sums a broadcast gradient back to its input's shape (the stock gradient throws there). */
function reduceTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank - 2; i++) {
    if (i < lead || shape[i - lead] === 1) axes.push(i);
  }
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

/**
 * The gradient when peftjs' GEMM runs BatchMatMul: tfjs-core's formulas with transpose flags (the
 * GEMM reads transposed operands in place), sums over broadcast batch axes, and a batch-1 operand's
 * gradient as one product over the folded batch ([K, B·M]·[B·M, N]) instead of B products summed.
 */
function gemmMatMulGrad(dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor, tA: boolean, tB: boolean): Grads {
  const flat = (x: tf.Tensor) => tf.reshape(x, [-1, x.shape[x.rank - 1]!]);
  // b is one matrix shared by a's batch (a linear layer): fold the batch into rows
  const oneB = size(b.shape.slice(0, -2)) === 1 && size(a.shape.slice(0, -2)) > 1 && !tA;
  let da: () => tf.Tensor;
  let db: () => tf.Tensor;
  if (!tA && !tB) {
    da = () => tf.matMul(dy, b, false, true);
    db = () => (oneB ? tf.matMul(flat(a), flat(dy), true, false) : tf.matMul(a, dy, true, false));
  } else if (!tA && tB) {
    da = () => tf.matMul(dy, b);
    db = () => (oneB ? tf.matMul(flat(dy), flat(a), true, false) : tf.matMul(dy, a, true, false));
  } else if (tA && !tB) {
    da = () => tf.matMul(b, dy, false, true);
    db = () => tf.matMul(a, dy);
  } else {
    da = () => tf.matMul(b, dy, true, true);
    db = () => tf.matMul(dy, a, true, true);
  }
  return { a: () => reduceTo(da(), a.shape), b: () => reduceTo(db(), b.shape) };
}

/**
 * Gradient of BatchMatMul with the transposes made explicit, so every product runs without
 * transpose flags (stock: `dY·Bᵀ` and `Aᵀ·dY` with flags, which wasm computes in a scalar loop).
 * The same formulas as tfjs-core's `BatchMatMul_grad`, plus a sum over broadcast batch axes.
 * Batched products on both sides keep the stock form: the kernel picks their fastest loop form.
 * With peftjs' GEMM on (the default), `gemmMatMulGrad` instead.
 */
const matMulGradFunc: GradFunc = (dy, saved, attrs) => {
  const [a, b] = saved as [tf.Tensor, tf.Tensor];
  if (fastPaths.gemm && onWasm() && a.dtype === 'float32' && b.dtype === 'float32') {
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    return gemmMatMulGrad(dy as tf.Tensor, a, b, transposeA, transposeB);
  }
  const batched = size(a.shape.slice(0, -2)) > 1 && size(b.shape.slice(0, -2)) > 1;
  if (!fastPaths.matMulGradient || !onWasm() || batched) return stockMatMulGrad!.gradFunc(dy, saved, attrs);
  // tfjs passes attrs as NamedAttrMap; BatchMatMul's are these two flags.
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const d = dy as tf.Tensor;
  let da: () => tf.Tensor;
  let db: () => tf.Tensor;
  if (!transposeA && !transposeB) {
    da = () => tf.matMul(d, t(b));
    db = () => tf.matMul(t(a), d);
  } else if (!transposeA && transposeB) {
    da = () => tf.matMul(d, b);
    db = () => tf.matMul(t(d), a);
  } else if (transposeA && !transposeB) {
    da = () => tf.matMul(b, t(d));
    db = () => tf.matMul(a, d);
  } else {
    da = () => tf.matMul(t(b), t(d));
    db = () => tf.matMul(t(d), t(a));
  }
  return { a: () => reduceTo(da(), a.shape), b: () => reduceTo(db(), b.shape) };
};

/**
 * dParams of `gather(params, indices, axis)` as a scatter-add in JS: params viewed as
 * [outer, A, inner] and dy as [outer, N, inner], dParams[o, idx[n], i] += dy[o, n, i]. The stock
 * gradient needs UnsortedSegmentSum, which tfjs-backend-wasm lacks; like it, indices outside
 * [0, A) add nothing.
 */
function scatterAdd(params: tf.Tensor, indices: tf.Tensor, dy: tf.Tensor, axis: number): tf.Tensor {
  const shape = params.shape;
  const A = shape[axis]!;
  const outer = size(shape.slice(0, axis));
  const inner = size(shape.slice(axis + 1));
  const N = indices.size;
  const idx = indices.dataSync();
  const g = dy.dataSync() as Float32Array;
  const out = new Float32Array(size(shape));
  for (let o = 0; o < outer; o++) {
    for (let n = 0; n < N; n++) {
      const row = idx[n]!;
      if (row < 0 || row >= A) continue;
      const src = (o * N + n) * inner;
      const dst = (o * A + row) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += g[src + i]!;
    }
  }
  return tf.tensor(out, shape, 'float32');
}

const gatherGradFunc: GradFunc = (dy, saved, attrs) => {
  const [x, indices] = saved as [tf.Tensor, tf.Tensor];
  // tfjs passes attrs as NamedAttrMap; GatherV2's are these two numbers.
  const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
  if (!fastPaths.gatherGradient || !onJsMemory() || batchDims || x.dtype !== 'float32') {
    return stockGatherGrad!.gradFunc(dy, saved, attrs);
  }
  const parsedAxis = axis < 0 ? axis + x.rank : axis;
  const grads: Grads = {
    x: () => scatterAdd(x, indices, dy as tf.Tensor, parsedAxis),
    indices: () => indices,
  };
  return grads;
};

/**
 * Replaces the BatchMatMul and GatherV2 gradients (once), keeping the stock ones as fallbacks.
 * Gradients are global, so each new one branches: the fast form on wasm, the stock one elsewhere.
 * Needs the stock gradients registered first (`ensureGradients`).
 */
export function registerWasmGradients(): void {
  if (!stockMatMulGrad) {
    const stock = tf.getGradient('BatchMatMul');
    if (stock) {
      stockMatMulGrad = stock;
      tf.registerGradient({ kernelName: 'BatchMatMul', inputsToSave: stock.inputsToSave, gradFunc: matMulGradFunc });
    }
  }
  if (!stockGatherGrad) {
    const stock = tf.getGradient('GatherV2');
    if (stock) {
      stockGatherGrad = stock;
      tf.registerGradient({ kernelName: 'GatherV2', inputsToSave: stock.inputsToSave, gradFunc: gatherGradFunc });
    }
  }
}
