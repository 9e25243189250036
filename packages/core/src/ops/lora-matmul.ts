import * as tf from '@tensorflow/tfjs-core';
import { definePeftOp } from './custom-op.js';

export interface LoraMatMulAttrs {
  /** α/r (or α/√r with rsLoRA). */
  scaling: number;
}

/**
 * `PeftLoraMatMul`: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ
 * x: [N, in]   W: [out, in]   A: [r, in]   B: [out, r]   y: [N, out]
 */
export const loraMatMul = definePeftOp<'x' | 'weight' | 'loraA' | 'loraB', LoraMatMulAttrs>({
  kernelName: 'PeftLoraMatMul',
  inputNames: ['x', 'weight', 'loraA', 'loraB'],
  fallback: ({ x, weight, loraA, loraB }, { scaling }) =>
    tf.tidy(() => {
      const base = tf.matMul(x, weight, false, true);
      const low = tf.matMul(tf.matMul(x, loraA, false, true), loraB, false, true);
      return tf.add(base, tf.mul(low, scaling));
    }),
  gradient: (dy, { x, weight, loraA, loraB }, { scaling }) => ({
    // dX = dY·W + s·(dY·B)·A
    x: () => tf.add(tf.matMul(dy, weight), tf.mul(tf.matMul(tf.matMul(dy, loraB), loraA), scaling)),
    // dW = dYᵀ·x
    weight: () => tf.matMul(dy, x, true, false),
    // dA = s·(dY·B)ᵀ·x
    loraA: () => tf.mul(tf.matMul(tf.matMul(dy, loraB), x, true, false), scaling),
    // dB = s·dYᵀ·(x·Aᵀ)
    loraB: () => tf.mul(tf.matMul(dy, tf.matMul(x, loraA, false, true), true, false), scaling),
  }),
});
