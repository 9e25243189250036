import type * as tf from '@tensorflow/tfjs-core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';

/** The helpers of the row-wise kernels written in JS on the tfjs-wasm heap (softmax, RoPE, RMSNorm, SwiGLU). */

export const sizeOf = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** The backend's heap (tfjs-backend-wasm 4.22 internals). */
export function heapMemory(backend: WasmHeapBackend, what: string): WebAssembly.Memory {
  const m = backend.wasm.wasmMemory ?? backend.wasm.asm?.memory;
  if (!m) throw new Error(`${what} on wasm: the backend does not expose its heap (tfjs-backend-wasm 4.22 expected)`);
  return m;
}

/**
 * A float32 view of a tensor's data on the heap. Views go stale when the heap grows: take them
 * after the kernel's last `makeOutput`.
 */
export function heapF32(backend: WasmHeapBackend, t: tf.TensorInfo, what: string): Float32Array {
  const m = heapMemory(backend, what);
  if (t.dtype !== 'float32') throw new Error(`${what} on wasm: float32 inputs expected, got ${t.dtype}`);
  return new Float32Array(m.buffer, ptrOf(backend, t), sizeOf(t.shape));
}

/** For each row of `outer` (a shape without its last axis), the row of a broadcast `inner`. */
export function broadcastRows(outer: readonly number[], inner: readonly number[]): Int32Array {
  const rows = sizeOf(outer);
  const lead = outer.length - inner.length;
  const idx = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let rem = r;
    let at = 0;
    let mul = 1;
    for (let ax = outer.length - 1; ax >= 0; ax--) {
      const coord = rem % outer[ax]!;
      rem = Math.floor(rem / outer[ax]!);
      if (ax >= lead) {
        const d = inner[ax - lead]!;
        at += (d === 1 ? 0 : coord) * mul;
        mul *= d;
      }
    }
    idx[r] = at;
  }
  return idx;
}

/** Throws unless `a` and `b` have the same shape. */
export function sameShape(what: string, a: tf.TensorInfo, b: tf.TensorInfo): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${what}: shapes [${a.shape}] and [${b.shape}] differ`);
  }
}

const LOG2E = 1.4426950408889634;
const LN2 = 0.6931471805599453;
/** 2^k for k in [−1075, 1024]. */
const POW2 = Float64Array.from({ length: 2100 }, (_, i) => Math.pow(2, i - 1075));

/**
 * eˣ in float64 to ~1e-8 relative (2^k · a degree-7 Taylor polynomial on |r| ≤ ln2/2): inlined by
 * V8, where `Math.exp` is a call; 1.5–3× faster per element here, and far below float32's precision.
 */
export function fastExp(x: number): number {
  if (!(x > -745)) return x !== x ? NaN : 0;
  if (x > 709) return Infinity;
  const k = Math.round(x * LOG2E);
  const r = x - k * LN2;
  const p = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040)))))));
  return p * POW2[k + 1075]!;
}
