import * as tf from '@tensorflow/tfjs-core';
import { definePeftOp } from './custom-op.js';

const noGradient = (name: string) => () => {
  throw new Error(`${name} has no gradient (an optimizer update)`);
};

export interface EmaAttrs {
  /** The old value's weight; the new one gets 1 − decay. */
  decay: number;
  /** Average g² rather than g (Adam's second moment). */
  square: boolean;
}

/**
 * `PeftEma`: an exponential moving average x·decay + g·(1 − decay), or of g² with `square` —
 * Adam's moments in one pass. Each product and sum is rounded to float32 in the order of the
 * fallback's tfjs ops, so a kernel that does the same (f32x4 lanes do) equals them bit for bit.
 * x, g: float32, the same shape. Not differentiable.
 */
export const ema = definePeftOp<'x' | 'g', EmaAttrs>({
  kernelName: 'PeftEma',
  inputNames: ['x', 'g'],
  fallback: ({ x, g }, { decay, square }) => tf.tidy(() => tf.add(tf.mul(x, decay), tf.mul(square ? tf.mul(g, g) : g, 1 - decay))),
  gradient: noGradient('PeftEma'),
});

export interface AdamUpdateAttrs {
  /** 1 − lr·λ (decoupled weight decay; 1 without it). */
  keep: number;
  /** √(1 − β₂ᵗ). */
  bc2: number;
  eps: number;
  /** lr / (1 − β₁ᵗ). */
  stepSize: number;
}

/**
 * `PeftAdamUpdate`: AdamW's new parameter p·keep − (m / (√v / bc2 + eps))·stepSize from the new
 * moments, in one pass, rounded to float32 step by step as the fallback (bit-equal kernels).
 * p, m, v: float32, the same shape. Not differentiable.
 */
export const adamUpdate = definePeftOp<'p' | 'm' | 'v', AdamUpdateAttrs>({
  kernelName: 'PeftAdamUpdate',
  inputNames: ['p', 'm', 'v'],
  fallback: ({ p, m, v }, { keep, bc2, eps, stepSize }) =>
    tf.tidy(() => {
      const decayed = keep !== 1 ? tf.mul(p, keep) : p;
      return tf.sub(decayed, tf.mul(tf.div(m, tf.add(tf.div(tf.sqrt(v), bc2), eps)), stepSize));
    }),
  gradient: noGradient('PeftAdamUpdate'),
});
