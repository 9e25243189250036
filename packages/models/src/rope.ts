import * as tf from '@tensorflow/tfjs-core';
import { rotary } from '@peftjs/core';
import type { RopeScaling } from './config.js';

const f32 = Math.fround;

/** inv_freq_i = 1 / θ^(2i/d), i < d/2, rounded to float32 at each step as torch computes it. */
export function inverseFrequencies(headDim: number, theta: number): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(Math.pow(theta, f32((2 * i) / headDim))));
  return inv;
}

/**
 * cos and sin of the rotary angles for position rows (one shared row or one per batch row):
 * emb = [freqs, freqs], freqs[t, i] = pos_t · inv_freq_i (pos / factor with linear scaling).
 * Returns cos, sin: [R, 1, T, headDim] (R = number of rows), broadcasting over heads.
 */
export function rotaryCosSin(
  positionRows: number[][],
  headDim: number,
  theta: number,
  scaling: RopeScaling | null,
): { cos: tf.Tensor; sin: tf.Tensor } {
  const inv = inverseFrequencies(headDim, theta);
  const half = headDim / 2;
  const R = positionRows.length;
  const T = positionRows[0]?.length ?? 0;
  const cos = new Float32Array(R * T * headDim);
  const sin = new Float32Array(R * T * headDim);
  for (let r = 0; r < R; r++) {
    for (let t = 0; t < T; t++) {
      const pos = scaling ? f32(positionRows[r][t] / scaling.factor) : positionRows[r][t];
      const base = (r * T + t) * headDim;
      for (let i = 0; i < half; i++) {
        const angle = f32(pos * inv[i]);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        cos[base + i] = c;
        cos[base + half + i] = c;
        sin[base + i] = s;
        sin[base + half + i] = s;
      }
    }
  }
  return { cos: tf.tensor4d(cos, [R, 1, T, headDim]), sin: tf.tensor4d(sin, [R, 1, T, headDim]) };
}

/** rotate_half: [x1, x2] → [−x2, x1] over the last axis (first half / second half). */
export function rotateHalf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [x1, x2] = tf.split(x, 2, -1);
    return tf.concat([tf.neg(x2), x1], -1);
  });
}

/**
 * x·cos + rotate_half(x)·sin.  x: [B, heads, T, hd]   cos, sin: [R, 1, T, hd]. `PeftRotary`: one
 * pass on backends with a kernel (no split, negation or concatenation, forward or backward).
 */
export function applyRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  return rotary({ x, cos, sin }, { transpose: false });
}
