import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { loraMatMul, registerPeftKernel } from '../src/index.js';

const inputs = () => ({
  x: tf.randomNormal([5, 6], 0, 1, 'float32', 1),
  weight: tf.randomNormal([4, 6], 0, 1, 'float32', 2),
  loraA: tf.randomNormal([2, 6], 0, 1, 'float32', 3),
  loraB: tf.randomNormal([4, 2], 0, 1, 'float32', 4),
});
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];

let unregister: (() => void) | undefined;
afterEach(() => unregister?.());

describe('PeftLoraMatMul', () => {
  it('the fallback computes x·Wᵀ + s·(x·Aᵀ)·Bᵀ on any backend', () => {
    const i = inputs();
    const want = tf.add(
      tf.matMul(i.x, i.weight, false, true),
      tf.mul(tf.matMul(tf.matMul(i.x, i.loraA, false, true), i.loraB, false, true), 0.5),
    );
    expect(maxDiff(loraMatMul(i, { scaling: 0.5 }), want)).toBeLessThan(1e-5);
  });

  it('a backend kernel registered for it runs instead, and its gradient matches autograd of the fallback', () => {
    let calls = 0;
    unregister = registerPeftKernel(loraMatMul, tf.getBackend(), ({ inputs: inp, attrs, backend }) => {
      calls++;
      // A plain-JS kernel on the backend's own buffers: y[n,o] = Σ_i x[n,i]·W[o,i] + s·Σ_k (Σ_i x[n,i]·A[k,i])·B[o,k]
      const b = backend as unknown as {
        readSync(id: unknown): Float32Array;
        makeTensorInfo(shape: number[], dtype: string, v: Float32Array): tf.TensorInfo;
      };
      const [x, w, a, bb] = [inp.x, inp.weight, inp.loraA, inp.loraB].map((t) => b.readSync(t.dataId));
      const [N, I] = inp.x.shape;
      const O = inp.weight.shape[0];
      const R = inp.loraA.shape[0];
      const y = new Float32Array(N * O);
      for (let n = 0; n < N; n++) {
        const xa = new Float32Array(R);
        for (let k = 0; k < R; k++) for (let i = 0; i < I; i++) xa[k] += x[n * I + i] * a[k * I + i];
        for (let o = 0; o < O; o++) {
          let acc = 0;
          for (let i = 0; i < I; i++) acc += x[n * I + i] * w[o * I + i];
          let low = 0;
          for (let k = 0; k < R; k++) low += xa[k] * bb[o * R + k];
          y[n * O + o] = acc + attrs.scaling * low;
        }
      }
      return b.makeTensorInfo([N, O], 'float32', y);
    });
    const i = inputs();
    const f = (x: tf.Tensor, w: tf.Tensor, a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(loraMatMul({ x, weight: w, loraA: a, loraB: b }, { scaling: 2 })));
    const g = tf.grads(f)([i.x, i.weight, i.loraA, i.loraB]);
    expect(calls).toBeGreaterThan(0);
    unregister();
    unregister = undefined;
    const ref = tf.grads(f)([i.x, i.weight, i.loraA, i.loraB]);
    for (let k = 0; k < 4; k++) expect(maxDiff(g[k], ref[k])).toBeLessThan(1e-3);
  });
});
