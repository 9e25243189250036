import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@peftjs/core';
import { FLOAT32_MIN, attentionBias, scaledDotProductAttention } from '../src/ops.js';

/**
 * transformers' GPT-2 eager attention weights, written out literally in float64 with float32
 * rounding where torch computes in float32: `w = where(causal, s, min)`, `w = w + (1 − mask)·min`,
 * softmax. scores: [T][T] (one head, no past), mask: [T].
 */
function gpt2Weights(scores: number[][], mask: number[]): number[][] {
  const T = mask.length;
  return scores.map((row, i) => {
    const w = row.map((s, j) => Math.fround(Math.fround(j <= i ? s : FLOAT32_MIN) + Math.fround((1 - mask[j]) * FLOAT32_MIN)));
    const max = Math.max(...w);
    const e = w.map((x) => (x === -Infinity ? 0 : Math.exp(x - max)));
    const sum = e.reduce((a, b) => a + b, 0);
    expect(w).toHaveLength(T);
    return e.map((x) => x / sum);
  });
}

describe("GPT-2's masking rule on a left-padded batch", () => {
  const masks = [
    [0, 0, 0, 1, 1, 1], // left padding: query rows 0..2 see only padded keys
    [0, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1],
  ];
  const T = 6;
  const rng = new Rng(3);
  const q = rng.normalTensor([3, 1, T, T], 0, 1);
  const k = rng.normalTensor([3, 1, T, T], 0, 1);
  // v = identity: the attention output is the weights themselves
  const v = tf.tile(tf.reshape(tf.eye(T), [1, 1, T, T]), [3, 1, 1, 1]);
  const scale = 1 / Math.sqrt(T);

  it("gives transformers' weights at every query row, padded rows included", () => {
    const bias = attentionBias(tf.tensor2d(masks, [3, T]), 0, T, true, 'gpt2');
    const ours = scaledDotProductAttention(q, k, v, bias, scale).arraySync() as number[][][][];
    const qs = q.arraySync() as number[][][][];
    const ks = k.arraySync() as number[][][][];
    for (let b = 0; b < 3; b++) {
      const scores = qs[b][0].map((qi) => ks[b][0].map((kj) => Math.fround(scale * qi.reduce((a, x, d) => a + x * kj[d], 0))));
      const want = gpt2Weights(scores, masks[b]);
      for (let i = 0; i < T; i++)
        for (let j = 0; j < T; j++) expect(Math.abs(ours[b][0][i][j] - want[i][j]), `row ${b},${i},${j}`).toBeLessThan(1e-6);
    }
    bias.dispose();
  });

  it('a fully padded query row attends uniformly to the keys that are not both future and padded', () => {
    const bias = attentionBias(tf.tensor2d(masks, [3, T]), 0, T, true, 'gpt2');
    const ours = scaledDotProductAttention(q, k, v, bias, scale).arraySync() as number[][][][];
    // row 1 of the first sequence: keys 0, 1 (visible, padded) and 3, 4, 5 (future, not padded); key 2 is future and padded
    const row = ours[0][0][1];
    for (const j of [0, 1, 3, 4, 5]) expect(row[j]).toBeCloseTo(1 / 5, 6);
    expect(row[2]).toBe(0);
    // the LLaMA rule (every masked key at min) spreads it over all six keys instead
    const llama = attentionBias(tf.tensor2d(masks, [3, T]), 0, T, true);
    const uniform = (scaledDotProductAttention(q, k, v, llama, scale).arraySync() as number[][][][])[0][0][1];
    for (const w of uniform) expect(w).toBeCloseTo(1 / 6, 6);
    tf.dispose([bias, llama]);
  });
});
