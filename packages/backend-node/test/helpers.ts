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

/** Runs `f` on `backend` and returns plain copies of its results. */
export async function on<T>(backend: string, f: () => T): Promise<T> {
  await tf.setBackend(backend);
  return f();
}
