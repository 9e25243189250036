import * as tf from '@tensorflow/tfjs-core';
import type { NonLinearity } from './config.js';

/** The non-linearities of AdapterHub (transformers' `get_activation`): swish = SiLU, gelu = exact (erf) GELU. */
export function nonLinearity(name: NonLinearity): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'relu':
      return (x) => tf.relu(x);
    case 'swish':
    case 'silu':
      return (x) => tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
    case 'gelu':
      return (x) => tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
    case 'gelu_new':
      return (x) =>
        tf.tidy(() =>
          tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)))))),
        );
    case 'tanh':
      return (x) => tf.tanh(x);
    case 'leakyrelu':
      return (x) => tf.leakyRelu(x, 0.01);
    case 'sigmoid':
      return (x) => tf.sigmoid(x);
  }
}

/** y = x·Wᵀ + b over the last axis.   x: [..., in]   W: [out, in]   → [..., out] */
export function dense(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inF = x.shape[x.rank - 1];
    const y = tf.add(tf.matMul(tf.reshape(x, [-1, inF]), weight, false, true), bias);
    return tf.reshape(y, [...x.shape.slice(0, -1), weight.shape[0]]);
  });
}

/** LayerNorm over the last axis (eps 1e-5, torch's default for the adapter's own norms). */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), weight), bias);
  });
}

/**
 * The bottleneck: up(f(down(z)))·s (Houlsby et al., Fig. 2, without its skip connection).
 * z: [..., D]   W_down: [m, D]   W_up: [D, m]   s: a number, [1] or [D]   → [..., D]
 */
export function bottleneck(
  z: tf.Tensor,
  down: { weight: tf.Tensor; bias: tf.Tensor },
  up: { weight: tf.Tensor; bias: tf.Tensor },
  f: (x: tf.Tensor) => tf.Tensor,
  scaling: number | tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => {
    const u = dense(f(dense(z, down.weight, down.bias)), up.weight, up.bias);
    return scaling === 1 ? u : tf.mul(u, scaling);
  });
}
