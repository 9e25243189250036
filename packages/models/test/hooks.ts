import * as tf from '@tensorflow/tfjs-core';
import type { SiteHooks, SiteKind, SiteSlot, AttentionKVHook, InputEmbeddingsHook, SublayerOutputHook } from '@peftjs/core';

/** Attaches a hook to a slot as the only active adapter `name` (what a PeftModel would do). */
export function attach<K extends SiteKind>(slot: SiteSlot<K>, hook: SiteHooks[K], name = 'test'): void {
  slot.hooks.set(name, hook);
  slot.control = { active: [name], disabled: false, training: false };
}

/** Removes every hook of a slot. */
export function detach(slot: SiteSlot): void {
  slot.hooks.clear();
}

/** Prepends fixed embeddings [n, D] to every row; the mask gets ones, labels -100. */
export function promptHook(prompt: tf.Tensor): InputEmbeddingsHook {
  const n = prompt.shape[0] as number;
  return {
    numVirtualTokens: n,
    extend({ embeds, attentionMask, labels }) {
      const B = embeds.shape[0] as number;
      const tiled = tf.tile(tf.expandDims(prompt, 0), [B, 1, 1]);
      return {
        embeds: tf.concat([tiled, embeds], 1),
        attentionMask: tf.concat([tf.ones([B, n]), tf.cast(attentionMask, 'float32')], 1),
        labels: labels ? tf.concat([tf.fill([B, n], -100, 'int32'), tf.cast(labels, 'int32')], 1) : undefined,
      };
    },
  };
}

/** Fixed prefix keys/values [kvH, n, hd], the same for every row. */
export function prefixHook(key: tf.Tensor, value: tf.Tensor): AttentionKVHook {
  return {
    numVirtualTokens: key.shape[1] as number,
    keyValue(B) {
      return { key: tf.tile(tf.expandDims(key, 0), [B, 1, 1, 1]), value: tf.tile(tf.expandDims(value, 0), [B, 1, 1, 1]) };
    },
  };
}

/** PEFT's prefix-tuning layout: prompt_embeddings [n, L·2·kvH·hd] → per layer (key, value) [kvH, n, hd]. */
export function peftPrefix(
  prompt: tf.Tensor,
  layers: number,
  kvHeads: number,
  headDim: number,
): Array<{ key: tf.Tensor; value: tf.Tensor }> {
  const n = prompt.shape[0] as number;
  // [n, L·2, kvH, hd] → [L·2, kvH, n, hd]
  const pkv = tf.transpose(tf.reshape(prompt, [n, layers * 2, kvHeads, headDim]), [1, 2, 0, 3]);
  const parts = tf.unstack(pkv, 0);
  return Array.from({ length: layers }, (_, l) => ({ key: parts[2 * l], value: parts[2 * l + 1] }));
}

export function scaleHook(factor: number): SublayerOutputHook {
  return { forward: (output) => tf.mul(output, factor) };
}

export const identityHook: SublayerOutputHook = { forward: (output) => output };
