import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { prependVirtualTokens } from '../src/sites.js';

// prompts [n 2, D 3]; a batch of B 2 rows, T 2 tokens
const prompts = () =>
  tf.tensor2d([
    [1, 2, 3],
    [4, 5, 6],
  ]);
const batch = (labels: boolean) => ({
  embeds: tf.tensor3d([
    [
      [7, 7, 7],
      [8, 8, 8],
    ],
    [
      [9, 9, 9],
      [0, 0, 0],
    ],
  ]),
  attentionMask: tf.tensor2d(
    [
      [1, 1],
      [1, 0],
    ],
    [2, 2],
    'int32',
  ),
  ...(labels
    ? {
        labels: tf.tensor2d(
          [
            [5, 6],
            [7, -100],
          ],
          [2, 2],
          'int32',
        ),
      }
    : {}),
});

describe('prependVirtualTokens', () => {
  it('puts the same virtual tokens in front of every row: embeds [B, n + T, D]', () => {
    const [p, b] = [prompts(), batch(false)];
    const out = prependVirtualTokens(b, p);
    expect(out.embeds.shape).toEqual([2, 4, 3]);
    expect(out.embeds.arraySync()).toEqual([
      [
        [1, 2, 3],
        [4, 5, 6],
        [7, 7, 7],
        [8, 8, 8],
      ],
      [
        [1, 2, 3],
        [4, 5, 6],
        [9, 9, 9],
        [0, 0, 0],
      ],
    ]);
    tf.dispose([p, b.embeds, b.attentionMask, out.embeds, out.attentionMask]);
  });

  it('extends the mask with ones in front, keeping its dtype and padding: [B, n + T]', () => {
    const [p, b] = [prompts(), batch(false)];
    const out = prependVirtualTokens(b, p);
    expect(out.attentionMask.dtype).toBe('int32');
    expect(out.attentionMask.arraySync()).toEqual([
      [1, 1, 1, 1],
      [1, 1, 1, 0],
    ]);
    expect(out.labels).toBeUndefined();
    tf.dispose([p, b.embeds, b.attentionMask, out.embeds, out.attentionMask]);
  });

  it('extends the labels with -100 in front, so virtual tokens are never predicted: [B, n + T]', () => {
    const [p, b] = [prompts(), batch(true)];
    const out = prependVirtualTokens(b, p);
    expect(out.labels!.dtype).toBe('int32');
    expect(out.labels!.arraySync()).toEqual([
      [-100, -100, 5, 6],
      [-100, -100, 7, -100],
    ]);
    tf.dispose([p, b.embeds, b.attentionMask, b.labels!, out.embeds, out.attentionMask, out.labels!]);
  });

  it('leaves no tensor behind but the ones it returns', () => {
    const [p, b] = [prompts(), batch(true)];
    const before = tf.memory().numTensors;
    const out = prependVirtualTokens(b, p);
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose([p, b.embeds, b.attentionMask, b.labels!, out.embeds, out.attentionMask, out.labels!]);
  });
});
