import * as tf from '@tensorflow/tfjs-core';
import { definePeftOp } from './custom-op.js';

/** Sums a gradient over the axes `shape` was broadcast along, back to `shape`. */
function reduceToShape(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, [...shape]);
}

/**
 * `PeftMaskedSoftmax`: softmax(scores + bias) over the last axis — attention probabilities with an
 * additive mask. scores: [.., S]   bias: broadcastable to scores (e.g. [B, 1, T, S])   →   [.., S].
 * With a registered kernel the tape keeps only the output (and the small bias), not the scores
 * and their biased sum: two [B, H, T, S] tensors per layer.
 */
export const maskedSoftmax = definePeftOp<'scores' | 'bias', Record<string, never>>({
  kernelName: 'PeftMaskedSoftmax',
  inputNames: ['scores', 'bias'],
  fallback: ({ scores, bias }) => tf.softmax(tf.add(scores, bias), -1),
  save: { inputs: ['bias'], output: true },
  gradient: (dy, { bias }, _attrs, probs) => {
    const dScores = () => tf.mul(probs!, tf.sub(dy, tf.sum(tf.mul(dy, probs!), -1, true)));
    return { scores: dScores, bias: () => reduceToShape(dScores(), bias.shape) };
  },
});
