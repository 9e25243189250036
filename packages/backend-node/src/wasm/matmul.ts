import * as tf from '@tensorflow/tfjs-core';
import { gemmBatchMatMul, gemmFor, type WasmHeapBackend } from './gemm-kernels.js';
import { fastPaths } from './state.js';
import { replaceWasmKernel } from './replace-kernel.js';

type Info = tf.TensorInfo;

/** The parts of tfjs-backend-wasm's `BackendWasm` the kernel below uses. */
interface WasmBackendLike {
  dataIdMap: { has(dataId: object): boolean };
  disposeData(dataId: object, force?: boolean): boolean;
}

interface KernelArgs {
  inputs: { a: Info; b: Info };
  backend: WasmBackendLike;
  attrs: { transposeA: boolean; transposeB: boolean };
}

let stockKernel: tf.KernelConfig | null = null;

/** bᵀ kept per source data id (see `cachedTranspose`), freed when the source's data is freed. */
const transposeCache = new WeakMap<object, Info>();
const hookedBackends = new WeakSet<object>();

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** Swaps the last two axes with the wasm backend's own Transpose kernel (no engine tensor). */
function transposeLast2(x: Info, backend: WasmBackendLike): Info {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  const kernel = tf.getKernel('Transpose', 'wasm')!;
  // WasmBackendLike is the part of the wasm backend we use; the kernel takes the backend object itself.
  return kernel.kernelFunc({ inputs: { x }, backend: backend as unknown as tf.KernelBackend, attrs: { perm } }) as Info;
}

/** Frees cached transposes together with their source (also when data moves to another backend). */
function hookDispose(backend: WasmBackendLike): void {
  if (hookedBackends.has(backend)) return;
  hookedBackends.add(backend);
  const dispose = backend.disposeData.bind(backend);
  backend.disposeData = (dataId: object, force?: boolean) => {
    const freed = dispose(dataId, force);
    const cached = transposeCache.get(dataId);
    if (cached && !backend.dataIdMap.has(dataId)) {
      transposeCache.delete(dataId);
      dispose(cached.dataId, true);
    }
    return freed;
  };
}

/**
 * bᵀ of a batch-1 right operand, cached for as long as b's data lives: tensors are immutable, so a
 * frozen weight (`tf.matMul(x, W, false, true)` with W [out, in]) is transposed once, and XNNPACK,
 * which caches its packed weights per data id, packs it once too.
 */
function cachedTranspose(b: Info, backend: WasmBackendLike, temps: Info[]): Info {
  if (!fastPaths.cacheTransposedWeights) {
    const t = transposeLast2(b, backend);
    temps.push(t);
    return t;
  }
  hookDispose(backend);
  let t = transposeCache.get(b.dataId);
  if (!t || !backend.dataIdMap.has(t.dataId)) {
    t = transposeLast2(b, backend);
    transposeCache.set(b.dataId, t);
  }
  return t;
}

/**
 * BatchMatMul on wasm. tfjs-backend-wasm 4.22 sends a product to XNNPACK only when neither operand
 * is transposed and both have batch 1; anything else runs a scalar loop (0.5–3 GFLOP/s against
 * 10–25). When b has batch 1 (a linear layer: x [.., in] · W), the transposes are made explicit and
 * a's batch is folded into its rows ([B, M, K] → [1, B·M, K]), so XNNPACK always runs. Batched
 * products (attention) stay on the loop, whose fastest form (measured) has `transposeB` set and
 * `transposeA` unset. Same values as the stock kernel up to float summation order.
 */
function fastBatchMatMul(args: KernelArgs): Info {
  // tfjs types kernel functions loosely (KernelFunc); the stock BatchMatMul takes and returns these shapes.
  const stock = stockKernel!.kernelFunc as unknown as (args: KernelArgs) => Info;
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs;
  const f32 = a.dtype === 'float32' && b.dtype === 'float32' && a.shape.length >= 2 && b.shape.length >= 2;
  const gemm = fastPaths.gemm && f32 ? gemmFor(backend) : null;
  if (gemm) return gemmBatchMatMul(gemm, backend as unknown as WasmHeapBackend, a, b, transposeA, transposeB);
  if (!fastPaths.matMulKernel || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
    return stock(args);
  }
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = size(outerA);
  const batchB = size(outerB);
  const temps: Info[] = [];
  try {
    if (batchB === 1) {
      if (!transposeA && !transposeB && batchA === 1) return stock(args);
      const a2 = transposeA ? transposeLast2(a, backend) : a;
      if (transposeA) temps.push(a2);
      const b2 = transposeB ? cachedTranspose(b, backend, temps) : b;
      const [M, K] = a2.shape.slice(-2) as [number, number];
      const N = b2.shape[b2.shape.length - 1]!;
      const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
      const out = stock({
        inputs: {
          a: { dataId: a2.dataId, shape: [1, batchA * M, K], dtype: a.dtype },
          b: { dataId: b2.dataId, shape: [1, b2.shape[b2.shape.length - 2]!, N], dtype: b.dtype },
        },
        backend,
        attrs: { transposeA: false, transposeB: false },
      });
      out.shape = [...outer, M, N];
      return out;
    }
    if (fastPaths.batchedTransposeB && (transposeA || !transposeB)) {
      const a2 = transposeA ? transposeLast2(a, backend) : a;
      if (transposeA) temps.push(a2);
      const b2 = transposeB ? b : transposeLast2(b, backend);
      if (!transposeB) temps.push(b2);
      return stock({ inputs: { a: a2, b: b2 }, backend, attrs: { transposeA: false, transposeB: true } });
    }
    return stock(args);
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/** Replaces the wasm BatchMatMul kernel (once); the stock one stays reachable for the fallbacks. */
export function registerWasmMatMulKernel(): void {
  if (!stockKernel) stockKernel = replaceWasmKernel('BatchMatMul', fastBatchMatMul);
}
