import type * as tf from '@tensorflow/tfjs-core';
import type { AttentionKVHook, HookContext } from '@peftjs/core';
import type { PrefixEncoder } from './encoder.js';
import { layerKeyValue } from './math.js';

/** One layer's `attentionKV` hook: its slice of the shared prefix as keys and values [B, kvH, n, hd]. */
export class PrefixKVHook implements AttentionKVHook {
  constructor(
    readonly encoder: PrefixEncoder,
    readonly layer: number,
  ) {}

  get numVirtualTokens(): number {
    return this.encoder.sizes.numVirtualTokens;
  }

  keyValue(batchSize: number, _ctx: HookContext): { key: tf.Tensor; value: tf.Tensor } {
    const { kvHeads, headDim } = this.encoder.sizes;
    const rows = this.encoder.layerRows(this.layer);
    try {
      return layerKeyValue(rows, batchSize, kvHeads, headDim);
    } finally {
      rows.dispose();
    }
  }
}
