import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/** |actual − expected| ≤ 1e-5 · max(1, |expected|), element by element. */
export function expectClose(actual: tf.Tensor | Float32Array | number[], expected: tf.Tensor | Float32Array | number[], tol = 1e-5): void {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  const e = expected instanceof tf.Tensor ? expected.dataSync() : expected;
  expect(a.length).toBe(e.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < e.length; i++) {
    const err = Math.abs(a[i]! - e[i]!) / Math.max(1, Math.abs(e[i]!));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  expect(worst, `worst relative error ${worst} at ${at}: ${a[at]} vs ${e[at]}`).toBeLessThanOrEqual(tol);
}

/**
 * Norm-wise: max |actual − expected| ≤ tol · max(1, max |expected|) — for outputs of chained
 * reductions (a gradient through two products), where single entries can be small by cancellation
 * of large terms and their f32 error scales with the terms, not with the entry.
 */
export function expectCloseNorm(actual: Float32Array, expected: Float32Array, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let scale = 1;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  expect(worst / scale, `worst error ${worst} against max |expected| ${scale}`).toBeLessThanOrEqual(tol);
}

/** Runs `f` on `backend` and returns plain copies of its results. */
export async function on<T>(backend: string, f: () => T): Promise<T> {
  await tf.setBackend(backend);
  return f();
}
