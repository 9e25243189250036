import * as tf from '@tensorflow/tfjs-core';

/** The LoRA scale: α/r, or α/√r with rank-stabilised LoRA (Kalajdzievski, 2023). */
export function loraScaling(alpha: number, r: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/**
 * ΔW of a linear LoRA in the base layer's layout.
 * A: [r, in]   B: [out, r]   ΔW = B·A·s: [out, in]  (transposed to [in, out] for fan_in_fan_out / Conv1D)
 */
export function loraDelta(loraA: tf.Tensor, loraB: tf.Tensor, scaling: number, fanInFanOut: boolean): tf.Tensor {
  return tf.tidy(() => {
    const d = tf.mul(tf.matMul(loraB, loraA), scaling);
    return fanInFanOut ? tf.transpose(d) : d;
  });
}

/**
 * ΔW of an embedding LoRA: A: [r, num]   B: [dim, r]   ΔW = (B·A)ᵀ·s: [num, dim]
 */
export function loraEmbeddingDelta(loraA: tf.Tensor, loraB: tf.Tensor, scaling: number): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.transpose(tf.matMul(loraB, loraA)), scaling));
}

/**
 * The low-rank path of a linear LoRA: s·(x·Aᵀ)·Bᵀ (+ s·b_B with `lora_bias`).
 * x: [..., in] → [..., out]
 */
export function loraPath(x: tf.Tensor, loraA: tf.Tensor, loraB: tf.Tensor, scaling: number, loraBias?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inF = x.shape[x.rank - 1];
    const x2 = tf.reshape(x, [-1, inF]);
    let y = tf.matMul(tf.matMul(x2, loraA, false, true), loraB, false, true);
    if (loraBias) y = tf.add(y, loraBias);
    y = tf.mul(y, scaling);
    return tf.reshape(y, [...x.shape.slice(0, -1), loraB.shape[0]]);
  });
}

/**
 * The low-rank path of an embedding LoRA: s·A[:, ids]ᵀ·Bᵀ.
 * ids: [...] → [..., dim]
 */
export function loraEmbeddingPath(ids: tf.Tensor, loraA: tf.Tensor, loraB: tf.Tensor, scaling: number): tf.Tensor {
  return tf.tidy(() => {
    const flat = tf.cast(tf.reshape(ids, [-1]), 'int32');
    const afterA = tf.gather(tf.transpose(loraA), flat); // [N, r]
    const y = tf.mul(tf.matMul(afterA, loraB, false, true), scaling); // [N, dim]
    return tf.reshape(y, [...ids.shape, loraB.shape[0]]);
  });
}
