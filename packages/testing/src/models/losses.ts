import * as tf from '@tensorflow/tfjs-core';

/** Which loss a test model computes when it is given labels. */
export type TestLoss = 'mse' | 'ce';

/** Mean squared error. logits, targets: same shape. */
export function mseLoss(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(logits, tf.cast(targets, 'float32'))) as tf.Scalar);
}

/**
 * Mean cross-entropy over the rows whose label is not -100.
 * logits: [..., V]   labels: [...] integer ids, -100 = ignored.
 */
export function crossEntropyLoss(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const vocab = logits.shape[logits.rank - 1];
    const flatLogits = tf.reshape(logits, [-1, vocab]); // [N, V]
    const ids = tf.cast(tf.reshape(labels, [-1]), 'int32'); // [N]
    const valid = tf.cast(tf.notEqual(ids, -100), 'float32'); // [N]
    const safeIds = tf.where(tf.notEqual(ids, -100), ids, tf.zerosLike(ids));
    const logp = tf.sum(tf.mul(tf.logSoftmax(flatLogits), tf.oneHot(safeIds, vocab)), -1); // [N]
    return tf.div(tf.neg(tf.sum(tf.mul(logp, valid))), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
  });
}

/** Computes the loss a test model was built with; MSE takes float targets, CE integer ids. */
export function testLoss(kind: TestLoss, logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return kind === 'mse' ? mseLoss(logits, labels) : crossEntropyLoss(logits, labels);
}
