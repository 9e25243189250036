import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Conv1D, Rng } from '@peftjs/core';
import { chunkedCausalLmLoss, modelFromConfig, type HfConfig, type ModelBatch } from '../src/index.js';

const CONFIGS: Record<string, HfConfig> = {
  llama: {
    model_type: 'llama',
    vocab_size: 50,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 32,
  },
  gpt2: { model_type: 'gpt2', vocab_size: 50, n_embd: 16, n_layer: 1, n_head: 4, n_positions: 32 },
};

function batch(): ModelBatch {
  const ids = tf.tensor2d(
    [
      [3, 17, 49, 0, 8, 22],
      [5, 5, 31, 12, 2, 9],
    ],
    [2, 6],
    'int32',
  );
  const labels = tf.tensor2d(
    [
      [3, 17, 49, 0, 8, 22],
      [5, 5, 31, -100, 2, -100],
    ],
    [2, 6],
    'int32',
  );
  return { inputIds: ids, attentionMask: tf.ones([2, 6], 'int32'), labels };
}

describe('the causal-LM loss over vocabulary chunks equals the loss over full logits', () => {
  for (const [family, config] of Object.entries(CONFIGS)) {
    for (const chunk of [1, 7, 50, 64]) {
      it(`${family}, chunks of ${chunk}: loss and every parameter gradient within 1e-5, no logits built`, () => {
        const model = modelFromConfig(config, { rng: new Rng(4) }) as unknown as {
          forward(b: ModelBatch): { logits: tf.Tensor; loss?: tf.Tensor };
          parameters?: unknown;
        };
        const b = batch();
        const full = tf.variableGrads(() => model.forward(b).loss as tf.Scalar);
        let logitsShape: number[] = [];
        const chunked = tf.variableGrads(() => {
          const out = model.forward({ ...b, lossChunkSize: chunk });
          logitsShape = out.logits.shape;
          return out.loss as tf.Scalar;
        });
        expect(logitsShape).toEqual([2, 0, 50]);
        expect(Math.abs(chunked.value.dataSync()[0]! - full.value.dataSync()[0]!)).toBeLessThan(1e-5);
        const names = Object.keys(full.grads);
        expect(Object.keys(chunked.grads).sort()).toEqual(names.sort());
        for (const n of names) {
          const d = tf.max(tf.abs(tf.sub(chunked.grads[n]!, full.grads[n]!))).dataSync()[0]!;
          expect(d, n).toBeLessThan(1e-5);
        }
      });
    }
  }

  it('a head that cannot be sliced by vocabulary (a Conv1D) runs over chunks of positions with the same result', () => {
    const head = new Conv1D(50, 16, { rng: new Rng(2) });
    const hidden = tf.randomNormal([2, 6, 16], 0, 1, 'float32', 3);
    const labels = batch().labels!;
    const logits = head.forward(hidden);
    const want = tf.tidy(() => {
      const lp = tf.logSoftmax(tf.slice(logits, [0, 0, 0], [2, 5, 50]));
      const lab = tf.reshape(tf.slice(labels, [0, 1], [2, 5]), [-1]);
      const keep = tf.cast(tf.notEqual(lab, -100), 'float32');
      const nll = tf.neg(tf.sum(tf.mul(tf.reshape(lp, [-1, 50]), tf.oneHot(tf.maximum(lab, tf.scalar(0, 'int32')), 50)), -1));
      return tf.div(tf.sum(tf.mul(nll, keep)), tf.sum(keep));
    });
    for (const chunk of [1, 3, 100]) {
      expect(Math.abs(chunkedCausalLmLoss(head, hidden, labels, chunk).dataSync()[0]! - want.dataSync()[0]!)).toBeLessThan(1e-5);
    }
    expect(() => chunkedCausalLmLoss(head, hidden, labels, 0)).toThrow(/lossChunkSize must be a positive integer, got 0/);
  });
});
