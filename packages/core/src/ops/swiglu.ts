import * as tf from '@tensorflow/tfjs-core';
import { definePeftOp } from './custom-op.js';

/**
 * `PeftSwiGluGrad`: the gradient of `swiGlu` for an upstream dy, with respect to the gate
 * (`wrt: 'gate'`: dy·u·σ(g)·(1 + g·(1 − σ(g)))) or the up projection (`wrt: 'up'`: dy·g·σ(g)).
 * dy, gate, up: the same shape. Not differentiable itself.
 */
export const swiGluGrad = definePeftOp<'dy' | 'gate' | 'up', { wrt: 'gate' | 'up' }>({
  kernelName: 'PeftSwiGluGrad',
  inputNames: ['dy', 'gate', 'up'],
  fallback: ({ dy, gate, up }, { wrt }) =>
    tf.tidy(() => {
      const s = tf.sigmoid(gate);
      if (wrt === 'up') return tf.mul(dy, tf.mul(gate, s));
      return tf.mul(tf.mul(dy, up), tf.mul(s, tf.add(1, tf.mul(gate, tf.sub(1, s)))));
    }),
  gradient: () => {
    throw new Error('PeftSwiGluGrad has no gradient (no second derivatives of SwiGLU)');
  },
});

/**
 * `PeftSwiGlu`: the gated unit of SwiGLU (Shazeer 2020; LLaMA's MLP): silu(gate)·up, silu(g) = g·σ(g).
 * gate, up: the same shape   →   that shape. A kernel makes one pass and the tape keeps gate and up
 * only (the fallback also keeps σ(g) and silu(g)).
 */
export const swiGlu = definePeftOp<'gate' | 'up', Record<string, never>>({
  kernelName: 'PeftSwiGlu',
  inputNames: ['gate', 'up'],
  fallback: ({ gate, up }) => tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up)),
  gradient: (dy, { gate, up }) => ({
    gate: () => swiGluGrad({ dy, gate, up }, { wrt: 'gate' }),
    up: () => swiGluGrad({ dy, gate, up }, { wrt: 'up' }),
  }),
});
