import * as tf from '@tensorflow/tfjs-core';
import { definePeftOp } from './custom-op.js';

export interface RmsNormAttrs {
  /** Added to mean(x²) before the square root. */
  eps: number;
}

/** x·rsqrt(mean(x²) + eps) over the last axis: [.., D]. */
function normalized(x: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.mul(x, x), -1, true), eps)));
}

/**
 * `PeftRmsNormGrad`: the gradient of `rmsNorm` for an upstream dy, with respect to x (`wrt: 'x'`)
 * or the weight (`wrt: 'weight'`). With r = rsqrt(mean(x²) + eps), n = x·r, g = dy·w:
 * dx = r·(g − n·mean(g·n)) [.., D];  dw = Σ_rows dy·n [D]. Not differentiable itself.
 */
export const rmsNormGrad = definePeftOp<'dy' | 'x' | 'weight', RmsNormAttrs & { wrt: 'x' | 'weight' }>({
  kernelName: 'PeftRmsNormGrad',
  inputNames: ['dy', 'x', 'weight'],
  fallback: ({ dy, x, weight }, { eps, wrt }) =>
    tf.tidy(() => {
      const n = normalized(x, eps);
      if (wrt === 'weight') return tf.reshape(tf.sum(tf.reshape(tf.mul(dy, n), [-1, weight.size]), 0), weight.shape);
      const r = tf.rsqrt(tf.add(tf.mean(tf.mul(x, x), -1, true), eps));
      const g = tf.mul(dy, weight);
      return tf.mul(r, tf.sub(g, tf.mul(n, tf.mean(tf.mul(g, n), -1, true))));
    }),
  gradient: () => {
    throw new Error('PeftRmsNormGrad has no gradient (no second derivatives of RMSNorm)');
  },
});

/**
 * `PeftRmsNorm`: RMSNorm (Zhang & Sennrich 2019; LLaMA's `LlamaRMSNorm`): x·rsqrt(mean(x²) + eps)·w.
 * x: [.., D]   weight: [D]   →   [.., D]. A kernel makes one pass per row, and the tape keeps x and
 * w only (the fallback keeps x², the mean, the rsqrt and x·rsqrt for autograd).
 */
export const rmsNorm = definePeftOp<'x' | 'weight', RmsNormAttrs>({
  kernelName: 'PeftRmsNorm',
  inputNames: ['x', 'weight'],
  fallback: ({ x, weight }, { eps }) =>
    tf.tidy(() => {
      const ms = tf.mean(tf.mul(x, x), -1, true);
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), weight);
    }),
  gradient: (dy, { x, weight }, { eps }) => ({
    x: () => rmsNormGrad({ dy, x, weight }, { eps, wrt: 'x' }),
    weight: () => rmsNormGrad({ dy, x, weight }, { eps, wrt: 'weight' }),
  }),
});
