import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crossEntropy, maskedSoftmax } from '@peftjs/core';
import { setupBackend } from '../src/index.js';
import { expectClose } from './helpers.js';

/** Loss and d loss/d logits (upstream gradient 0.7) with some labels ignored; C a multiple of 4 takes the SIMD rows. */
function lossAndGrad(C: number, amp = 4): Float32Array[] {
  return tf.tidy(() => {
    const N = 13;
    const logits = tf.tensor2d(
      Float32Array.from({ length: N * C }, (_, i) => amp * Math.sin(i * 1.37)),
      [N, C],
    );
    const labels = tf.tensor1d(
      Array.from({ length: N }, (_, n) => (n % 4 === 3 ? -100 : (n * 7) % C)),
      'int32',
    );
    const f = (x: tf.Tensor) => tf.mul(crossEntropy({ logits: x, labels }, {}), 0.7);
    const { value, grad } = tf.valueAndGrad(f)(logits);
    return [value, grad].map((t) => t.dataSync() as Float32Array);
  });
}

describe('PeftCrossEntropy on wasm equals its fallback (tfjs ops) on cpu', () => {
  beforeAll(async () => {
    await setupBackend({ prefer: 'wasm' });
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  // amplitude 60: some labels' probabilities fall below float32's range (the exact path of the SIMD loss)
  it.each([
    [37, 4],
    [40, 4],
    [1024, 4],
    [40, 60],
  ])('loss and gradient over %i classes (logits ±%i), ignored rows included; no tensor left behind', async (C, amp) => {
    await tf.setBackend('cpu');
    const expected = lossAndGrad(C, amp);
    await tf.setBackend('wasm');
    expect(tf.getKernel('PeftCrossEntropy', 'wasm')).toBeDefined();
    const before = tf.memory().numTensors;
    const actual = lossAndGrad(C, amp);
    expect(tf.memory().numTensors).toBe(before);
    actual.forEach((x, i) => expectClose(x, expected[i]!));
  });

  // element by element against float64, relative to each value (expectClose's floor of 1 would let a
  // 1e-4 relative error through on probabilities of 1e-3)
  it.each([
    [1024, 4],
    [40, 60],
  ])('loss and every gradient entry within 1e-5 relative of float64 (%i classes, logits ±%i)', async (C, amp) => {
    await tf.setBackend('wasm');
    const [loss, grad] = lossAndGrad(C, amp);
    const N = 13;
    const x = (n: number, c: number) => Math.fround(amp * Math.sin((n * C + c) * 1.37));
    const label = (n: number) => (n % 4 === 3 ? -100 : (n * 7) % C);
    const kept = Array.from({ length: N }, (_, n) => n).filter((n) => label(n) !== -100);
    let sum = 0;
    const want = new Float64Array(N * C);
    for (const n of kept) {
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, x(n, c));
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(x(n, c) - m);
      sum += m + Math.log(s) - x(n, label(n));
      for (let c = 0; c < C; c++) want[n * C + c] = (0.7 / kept.length) * (Math.exp(x(n, c) - m) / s - (c === label(n) ? 1 : 0));
    }
    expect(Math.abs(loss![0]! - (0.7 * sum) / kept.length) / ((0.7 * sum) / kept.length)).toBeLessThanOrEqual(1e-5);
    let worst = 0;
    for (let i = 0; i < N * C; i++)
      if (want[i] !== 0 || grad![i] !== 0) worst = Math.max(worst, Math.abs(grad![i]! - want[i]!) / Math.max(Math.abs(want[i]!), 1e-30));
    expect(worst).toBeLessThanOrEqual(1e-5);
  });
});

describe('PeftMaskedSoftmax on wasm equals its fallback on cpu', () => {
  beforeAll(async () => {
    await setupBackend({ prefer: 'wasm' });
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('probabilities and the gradient of the scores, a [B, 1, T, S] mask broadcast over heads', async () => {
    const run = () =>
      tf.tidy(() => {
        const [B, H, T, S] = [2, 3, 5, 7];
        const scores = tf.tensor4d(
          Float32Array.from({ length: B * H * T * S }, (_, i) => 3 * Math.sin(i * 0.91)),
          [B, H, T, S],
        );
        const bias = tf.tensor4d(
          Float32Array.from({ length: B * T * S }, (_, i) => (i % 3 === 0 ? -3.4e38 : 0.1 * (i % 5))),
          [B, 1, T, S],
        );
        const dy = tf.tensor4d(
          Float32Array.from({ length: B * H * T * S }, (_, i) => Math.cos(i)),
          [B, H, T, S],
        );
        const f = (s: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax({ scores: s, bias }, {}), dy));
        return [maskedSoftmax({ scores, bias }, {}), tf.grad(f)(scores)].map((t) => t.dataSync() as Float32Array);
      });
    await tf.setBackend('cpu');
    const expected = run();
    await tf.setBackend('wasm');
    expect(tf.getKernel('PeftMaskedSoftmax', 'wasm')).toBeDefined();
    const before = tf.memory().numTensors;
    const actual = run();
    expect(tf.memory().numTensors).toBe(before);
    actual.forEach((x, i) => expectClose(x, expected[i]!));
  });
});
