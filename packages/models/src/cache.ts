import * as tf from '@tensorflow/tfjs-core';

/**
 * Key/value cache for incremental decoding. Per layer it holds every key and value seen so
 * far — the `attentionKV` prefix first (fetched once, at the first step), then the tokens —
 * and the token attention mask, so that a step only computes the new tokens.
 *
 * The model updates it in place during `forward({ …, cache })`; the caller disposes it.
 */
export class KVCache {
  /** Per layer: [B, kvHeads, n_l + P, headDim] (prefix n_l, then P tokens); null before the first step. */
  readonly keys: Array<tf.Tensor | null>;
  readonly values: Array<tf.Tensor | null>;
  /** [B, P] attention mask of the cached tokens (virtual tokens included); null before the first step. */
  tokenMask: tf.Tensor | null = null;
  /** Per layer: the number of prefix positions (attentionKV) fixed at the first step. */
  prefixLengths: number[] = [];

  constructor(readonly numLayers: number) {
    this.keys = new Array<tf.Tensor | null>(numLayers).fill(null);
    this.values = new Array<tf.Tensor | null>(numLayers).fill(null);
  }

  /** True once a first step has filled the cache. */
  get started(): boolean {
    return this.tokenMask !== null;
  }

  /** Number of cached token positions P (not counting the prefix). */
  get pastLength(): number {
    return this.tokenMask ? (this.tokenMask.shape[1] as number) : 0;
  }

  /** Position id of the next token: the layer-0 prefix length plus the cached tokens (as PEFT's past length). */
  get nextPosition(): number {
    return (this.prefixLengths[0] ?? 0) + this.pastLength;
  }

  /** Replaces a layer's keys and values (kept outside any tidy); disposes the old ones. */
  setLayer(layer: number, key: tf.Tensor, value: tf.Tensor): void {
    if (layer < 0 || layer >= this.numLayers) throw new Error(`KVCache: layer ${layer} out of range [0, ${this.numLayers})`);
    const oldK = this.keys[layer];
    const oldV = this.values[layer];
    this.keys[layer] = tf.keep(key);
    this.values[layer] = tf.keep(value);
    if (oldK && oldK !== key) oldK.dispose();
    if (oldV && oldV !== value) oldV.dispose();
  }

  /** Replaces the token mask [B, P] (kept); disposes the old one. */
  setTokenMask(mask: tf.Tensor): void {
    const old = this.tokenMask;
    this.tokenMask = tf.keep(mask);
    if (old && old !== mask) old.dispose();
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values, this.tokenMask]) if (t && !t.isDisposed) t.dispose();
    this.keys.fill(null);
    this.values.fill(null);
    this.tokenMask = null;
    this.prefixLengths = [];
  }
}
