import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@peftjs/core';
import { AdamW, AdamW8bit, MIN_8BIT_SIZE, type NamedVariable } from '../src/index.js';

function params(seed: number): NamedVariable[] {
  const rng = new Rng(seed);
  return [
    ['big', tf.variable(rng.normalTensor([64, 160], 0, 0.1))],
    ['small', tf.variable(rng.normalTensor([10], 0, 0.1))],
  ];
}
const grads = (step: number): tf.Tensor[] => {
  const rng = new Rng(100 + step);
  return [rng.normalTensor([64, 160], 0, 0.01), rng.normalTensor([10], 0, 0.01)];
};

describe('AdamW8bit (bitsandbytes)', () => {
  it('tracks float32 AdamW; small tensors are exactly AdamW; moments take ~1/4 of the memory; no tensor leak', () => {
    const p8 = params(1);
    const p32 = params(1);
    const o8 = new AdamW8bit(p8, { weightDecay: 0.01 });
    const o32 = new AdamW(p32, { weightDecay: 0.01 });
    let n0 = 0;
    for (let s = 0; s < 8; s++) {
      const g = grads(s);
      o8.step(g, 1e-2);
      o32.step(g, 1e-2);
      tf.dispose(g);
      if (s === 1) n0 = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(n0);
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(p32[0][1], params(1)[0][1]))).dataSync()[0]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(p8[0][1], p32[0][1]))).dataSync()[0]);
    expect(diff).toBeLessThan(0.05 * moved); // 8-bit moments: within 5% of the distance travelled
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(p8[1][1], p32[1][1]))).dataSync()[0])).toBe(0);
    const float32Bytes = 8 * (64 * 160 + 10);
    expect(64 * 160).toBeGreaterThanOrEqual(MIN_8BIT_SIZE);
    expect(o8.stateBytes() / float32Bytes).toBeLessThan(0.26);
    o8.dispose();
    o32.dispose();
  });

  it('getState/setState resume to the same next step', () => {
    const a = params(2);
    const o = new AdamW8bit(a);
    o.step(grads(0), 1e-2);
    const b = params(3);
    a.forEach(([, v], i) => b[i][1].assign(v));
    const o2 = new AdamW8bit(b);
    o2.setState(o.getState());
    o.step(grads(1), 1e-2);
    o2.step(grads(1), 1e-2);
    for (let i = 0; i < 2; i++) expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a[i][1], b[i][1]))).dataSync()[0])).toBe(0);
    expect(() => new AdamW(a).setState(o.getState())).toThrow(/AdamW8bit/);
  });
});
