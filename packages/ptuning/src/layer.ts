import { prependVirtualTokens, type EmbeddingBatch, type HookContext, type InputEmbeddingsHook } from '@peftjs/core';
import type { PromptEncoder } from './encoder.js';

/** P-Tuning v1 at the `inputEmbeddings` site: the prompt encoder's output prepended to every row. */
export class PromptEncoderHook implements InputEmbeddingsHook {
  constructor(readonly encoder: PromptEncoder) {}

  get numVirtualTokens(): number {
    return this.encoder.sizes.numVirtualTokens;
  }

  extend(batch: EmbeddingBatch, ctx: HookContext): EmbeddingBatch {
    const prompts = this.encoder.output(ctx.training);
    try {
      return prependVirtualTokens(batch, prompts);
    } finally {
      if (prompts !== this.encoder.embedding) prompts.dispose();
    }
  }
}
