import type * as tf from '@tensorflow/tfjs-core';
import { Module, prependVirtualTokens, type EmbeddingBatch, type HookContext, type InputEmbeddingsHook } from '@peftjs/core';

/**
 * PEFT's `PromptEmbedding` at the `inputEmbeddings` site: one trainable table of virtual token
 * embeddings, prepended to every row. Its parameter is `embedding.weight` [n, D], as in PEFT.
 */
export class PromptEmbeddingHook implements InputEmbeddingsHook {
  readonly params = new Module();

  constructor(
    readonly numVirtualTokens: number,
    /** [n, D]; owned (disposed once held by the variable). */
    init: tf.Tensor,
  ) {
    this.params.registerModule('embedding', new Module()).registerParameter('weight', init);
  }

  /** The virtual token embeddings [n, D]. */
  get virtualTokens(): tf.Variable {
    return this.params.child('embedding')!.parameter('weight')!;
  }

  extend(batch: EmbeddingBatch, _ctx: HookContext): EmbeddingBatch {
    return prependVirtualTokens(batch, this.virtualTokens);
  }
}
