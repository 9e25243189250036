import * as tf from '@tensorflow/tfjs-core';
import type { EmbeddingBatch } from '@peftjs/core';

/**
 * Prepends the same virtual tokens to every row (Lester et al., §2): the mask gets ones in front,
 * the labels -100 (never predicted).
 * prompts: [n, D]   embeds: [B, T, D]   →   embeds [B, n + T, D], mask [B, n + T], labels [B, n + T]
 */
export function prependVirtualTokens(batch: EmbeddingBatch, prompts: tf.Tensor): EmbeddingBatch {
  return tidyOut(() => {
    const { embeds, attentionMask, labels } = batch;
    const B = embeds.shape[0] as number;
    const n = prompts.shape[0] as number;
    // virtual: [B, n, D]
    const virtual = tf.tile(tf.expandDims(tf.cast(prompts, embeds.dtype), 0), [B, 1, 1]);
    const out: EmbeddingBatch = {
      embeds: tf.concat([virtual, embeds], 1),
      attentionMask: tf.concat([tf.ones([B, n], attentionMask.dtype), attentionMask], 1),
    };
    if (labels) out.labels = tf.concat([tf.fill([B, n], -100, labels.dtype), labels], 1);
    return out;
  });
}

/** `tf.tidy` for a function returning an interface of tensors (every tensor reachable from it is kept). */
function tidyOut<T extends object>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}
