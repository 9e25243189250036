import type * as tf from '@tensorflow/tfjs-core';
import type { AdamUpdateAttrs, EmaAttrs, PeftKernelArgs } from '@peftjs/core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { elementwiseFor } from './elementwise/module.js';
import { heapF32, heapMemory, sameShape, sizeOf } from './rows.js';

const f = Math.fround;

/** Checks float32 inputs of one shape; returns the output and the element count. */
function prepare(what: string, backend: WasmHeapBackend, infos: tf.TensorInfo[]): [tf.TensorInfo, number] {
  for (const t of infos) {
    if (t.dtype !== 'float32') throw new Error(`${what} on wasm: float32 inputs expected, got ${t.dtype}`);
    sameShape(what, infos[0]!, t);
  }
  return [backend.makeOutput([...infos[0]!.shape], 'float32'), sizeOf(infos[0]!.shape)];
}

/**
 * `PeftEma` on wasm: one SIMD pass (elementwise module); the last n mod 4 elements in JS with the
 * same float32 rounding (`Math.fround` after each operation), so every element equals the fallback.
 */
export function wasmEma({ inputs, attrs, backend: b }: PeftKernelArgs<'x' | 'g', EmaAttrs>): tf.TensorInfo {
  const backend = b as unknown as WasmHeapBackend;
  const { x, g } = inputs;
  const [out, n] = prepare('PeftEma', backend, [x, g]);
  const [a, c] = [f(attrs.decay), f(1 - attrs.decay)];
  const body = n & ~3;
  const ew = elementwiseFor(heapMemory(backend, 'PeftEma'));
  (attrs.square ? ew.ema_sq : ew.ema)(ptrOf(backend, x), ptrOf(backend, g), ptrOf(backend, out), 4 * body, a, c);
  if (body < n) {
    const [X, G, O] = [x, g, out].map((t) => heapF32(backend, t, 'PeftEma'));
    for (let i = body; i < n; i++) {
      const gi = attrs.square ? f(G![i]! * G![i]!) : G![i]!;
      O![i] = f(X![i]! * a) + f(gi * c);
    }
  }
  return out;
}

/** `PeftAdamUpdate` on wasm: one SIMD pass, the tail in JS rounded as the fallback (bit-equal). */
export function wasmAdamUpdate({ inputs, attrs, backend: b }: PeftKernelArgs<'p' | 'm' | 'v', AdamUpdateAttrs>): tf.TensorInfo {
  const backend = b as unknown as WasmHeapBackend;
  const { p, m, v } = inputs;
  const [out, n] = prepare('PeftAdamUpdate', backend, [p, m, v]);
  const [keep, bc2, eps, step] = [f(attrs.keep), f(attrs.bc2), f(attrs.eps), f(attrs.stepSize)];
  const body = n & ~3;
  const ew = elementwiseFor(heapMemory(backend, 'PeftAdamUpdate'));
  ew.adam_update(ptrOf(backend, p), ptrOf(backend, m), ptrOf(backend, v), ptrOf(backend, out), 4 * body, keep, bc2, eps, step);
  if (body < n) {
    const [P, M, V, O] = [p, m, v, out].map((t) => heapF32(backend, t, 'PeftAdamUpdate'));
    for (let i = body; i < n; i++) {
      const denom = f(f(f(Math.sqrt(V![i]!)) / bc2) + eps);
      O![i] = f(P![i]! * keep) - f(f(M![i]! / denom) * step);
    }
  }
  return out;
}
