import * as tf from '@tensorflow/tfjs-core';
import { reduceToShape } from './broadcast.js';
import { definePeftOp, type PeftOp } from './custom-op.js';

export interface RotaryAttrs {
  /**
   * The transposed rotation (the gradient of the forward one): x·cos + rotate_halfᵀ(x·sin), with
   * rotate_halfᵀ([z1, z2]) = [z2, −z1]. For tables whose halves are equal (RoPE's) it is the
   * rotation by the negated angle.
   */
  transpose: boolean;
}

/** rotate_half: [x1, x2] → [−x2, x1] over the last axis. */
function rotateHalf(x: tf.Tensor): tf.Tensor {
  const [x1, x2] = tf.split(x, 2, -1);
  return tf.concat([tf.neg(x2!), x1!], -1);
}

/** rotate_halfᵀ: [z1, z2] → [z2, −z1]. */
function rotateHalfT(z: tf.Tensor): tf.Tensor {
  const [z1, z2] = tf.split(z, 2, -1);
  return tf.concat([z2!, tf.neg(z1!)], -1);
}

/**
 * `PeftRotary`: rotary position embedding (RoPE, Su et al. 2021) as transformers'
 * `apply_rotary_pos_emb`: x·cos + rotate_half(x)·sin. A kernel rotates in one pass, without the
 * split, negation and concatenation of the fallback (and their gradients).
 * x: [.., T, d]   cos, sin: broadcastable to x, last axis d (e.g. [R, 1, T, d])   →   x's shape.
 * The gradient with respect to x is the same op with `transpose` flipped.
 */
export const rotary: PeftOp<'x' | 'cos' | 'sin', RotaryAttrs> = definePeftOp<'x' | 'cos' | 'sin', RotaryAttrs>({
  kernelName: 'PeftRotary',
  inputNames: ['x', 'cos', 'sin'],
  fallback: ({ x, cos, sin }, { transpose }) =>
    tf.tidy(() => (transpose ? tf.add(tf.mul(x, cos), rotateHalfT(tf.mul(x, sin))) : tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin)))),
  gradient: (dy, { x, cos, sin }, { transpose }) => ({
    x: (): tf.Tensor => rotary({ x: dy, cos, sin }, { transpose: !transpose }),
    cos: () => reduceToShape(tf.mul(dy, x), cos.shape),
    // forward: ⟨dy, R(x)·sin⟩ → dy·R(x); transposed: ⟨dy, Rᵀ(x·sin)⟩ = ⟨R(dy), x·sin⟩ → x·R(dy)
    sin: () => reduceToShape(transpose ? tf.mul(x, rotateHalf(dy)) : tf.mul(dy, rotateHalf(x)), sin.shape),
  }),
});
