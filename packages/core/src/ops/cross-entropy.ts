import * as tf from '@tensorflow/tfjs-core';
import { definePeftOp } from './custom-op.js';

/** The label that contributes nothing (torch's `ignore_index` default). */
export const IGNORE_INDEX = -100;

/**
 * `PeftCrossEntropyGrad`: d loss / d logits of `crossEntropy` for an upstream gradient dy (a
 * scalar): dy·(softmax(logits) − onehot(labels))/count on rows whose label is not -100, 0 elsewhere.
 * logits: [N, C]   labels: [N] int32   dy: []   →   [N, C]. Not differentiable itself.
 */
export const crossEntropyGrad = definePeftOp<'logits' | 'labels' | 'dy', Record<string, never>>({
  kernelName: 'PeftCrossEntropyGrad',
  inputNames: ['logits', 'labels', 'dy'],
  fallback: ({ logits, labels, dy }) =>
    tf.tidy(() => {
      const C = logits.shape[1]!;
      const ok = tf.notEqual(labels, IGNORE_INDEX);
      const keep = tf.cast(ok, 'float32');
      const onehot = tf.oneHot(tf.where(ok, labels, tf.zerosLike(labels)), C);
      const scale = tf.div(dy, tf.maximum(tf.sum(keep), 1));
      return tf.mul(tf.mul(tf.sub(tf.softmax(logits, -1), onehot), tf.expandDims(keep, 1)), scale);
    }),
  gradient: () => {
    throw new Error('PeftCrossEntropyGrad has no gradient (no second derivatives of the loss)');
  },
});

/**
 * `PeftCrossEntropy`: mean cross-entropy over the rows whose label is not -100 (torch's
 * `CrossEntropyLoss(ignore_index=-100)`). logits: [N, C]   labels: [N] int32   →   [] (NaN when
 * every label is -100, as torch). A backend kernel needs neither the log-probabilities nor a
 * one-hot [N, C] (the fallback makes both); its gradient recomputes the softmax from the logits.
 */
export const crossEntropy = definePeftOp<'logits' | 'labels', Record<string, never>>({
  kernelName: 'PeftCrossEntropy',
  inputNames: ['logits', 'labels'],
  fallback: ({ logits, labels }) =>
    tf.tidy(() => {
      const C = logits.shape[1]!;
      const ok = tf.notEqual(labels, IGNORE_INDEX);
      const keep = tf.cast(ok, 'float32');
      const logp = tf.logSoftmax(logits, -1);
      // nll: [N]
      const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(tf.where(ok, labels, tf.zerosLike(labels)), C)), -1));
      return tf.div(tf.sum(tf.mul(nll, keep)), tf.sum(keep));
    }),
  gradient: (dy, { logits, labels }) => ({
    logits: () => crossEntropyGrad({ logits, labels, dy }, {}),
    labels: () => tf.zerosLike(labels),
  }),
});
