import * as tf from '@tensorflow/tfjs-core';
import { reduceToShape } from './broadcast.js';
import { definePeftOp } from './custom-op.js';

/**
 * `PeftSoftmaxGrad`: the gradient of a softmax over the last axis from its output:
 * probs·(dy − Σ dy·probs). dy, probs: [.., S]   →   [.., S]. Not differentiable itself.
 */
export const softmaxGrad = definePeftOp<'dy' | 'probs', Record<string, never>>({
  kernelName: 'PeftSoftmaxGrad',
  inputNames: ['dy', 'probs'],
  fallback: ({ dy, probs }) => tf.tidy(() => tf.mul(probs, tf.sub(dy, tf.sum(tf.mul(dy, probs), -1, true)))),
  gradient: () => {
    throw new Error('PeftSoftmaxGrad has no gradient (no second derivatives of the softmax)');
  },
});

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
    const dScores = () => softmaxGrad({ dy, probs: probs! }, {});
    return { scores: dScores, bias: () => reduceToShape(dScores(), bias.shape) };
  },
});
