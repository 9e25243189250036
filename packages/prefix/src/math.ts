import * as tf from '@tensorflow/tfjs-core';
import { linear } from '@peftjs/core';

/**
 * Li & Liang's reparameterisation: P = MLP(P′) with a Tanh between two linear layers.
 * embedding: [n, td]   W1: [h, td]   W2: [out, h]   →   [n, out]
 */
export function prefixProjection(embedding: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor): tf.Tensor {
  return tf.tidy(() => linear(tf.tanh(linear(embedding, w1, b1)), w2, b2));
}

/**
 * The columns of layer `l` in PEFT's flat prefix [n, L·2·td]: PEFT views it as
 * [n, L·2, kvH, hd], so layer l's key is block 2l and its value block 2l + 1.
 */
export function layerColumns(layer: number, tokenDim: number): { begin: number; size: number } {
  return { begin: 2 * layer * tokenDim, size: 2 * tokenDim };
}

/**
 * One layer's prefix rows [n, 2·kvH·hd] as attention keys and values for a batch.
 * → key, value: [B, kvH, n, hd]
 */
export function layerKeyValue(rows: tf.Tensor, batchSize: number, kvHeads: number, headDim: number): { key: tf.Tensor; value: tf.Tensor } {
  return tf.tidy(() => {
    const n = rows.shape[0] as number;
    // kv: [2, kvH, n, hd]
    const kv = tf.transpose(tf.reshape(rows, [n, 2, kvHeads, headDim]), [1, 2, 0, 3]);
    const [key, value] = tf.unstack(kv, 0).map((t) => tf.tile(tf.expandDims(t, 0), [batchSize, 1, 1, 1]));
    return { key, value };
  }) as { key: tf.Tensor; value: tf.Tensor };
}
