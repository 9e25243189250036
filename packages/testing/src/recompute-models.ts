import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { Rng, setGlobalSeed, type ModelOutput, type PeftBaseModel, type PeftConfigBase, type PeftMethod } from '@peftjs/core';
import { expectRecomputationMatches } from './recompute.js';
import { TINY_LLAMA_CONFIG } from './tiny-llama.js';
import { BertForSequenceClassification, GPT2LMHeadModel, LlamaForCausalLM, type ModelBatch } from '@peftjs/models';

/** The architectures `recomputationModel` builds, tiny, with their layers' dropout where the architecture has one. */
export type RecomputationArch = 'llama' | 'gpt2' | 'bert';

const GPT2_CONFIG = { model_type: 'gpt2', vocab_size: 64, n_embd: 16, n_head: 4, n_layer: 2, n_positions: 128 };
const BERT_CONFIG = {
  model_type: 'bert',
  vocab_size: 64,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 32,
  max_position_embeddings: 128,
  num_labels: 3,
};
/** The kit's tiny GQA LLaMA with attention dropout, so that recomputation must draw the same masks. */
const LLAMA_CONFIG = { ...TINY_LLAMA_CONFIG, max_position_embeddings: 128, attention_dropout: 0.1 };

/**
 * A tiny model of `arch` for `expectRecomputationMatches`: the same weights on every call; its
 * dropout draws from the global generator (reseeded here), which the check resets between runs.
 * GPT-2 and BERT keep transformers' 0.1 dropouts; LLaMA gets attention dropout 0.1.
 */
export function recomputationModel(arch: RecomputationArch): PeftBaseModel<ModelBatch, ModelOutput> {
  setGlobalSeed(0);
  if (arch === 'llama') return new LlamaForCausalLM(LLAMA_CONFIG);
  if (arch === 'gpt2') return new GPT2LMHeadModel(GPT2_CONFIG);
  return new BertForSequenceClassification(BERT_CONFIG);
}

/**
 * A labelled batch of 2 rows of `seqLen` tokens below `vocab` for `arch` (row 0's last token padded): causal-LM
 * labels (the ids, −100 at padding) or, for BERT, one class a row.
 */
export function recomputationBatch(arch: RecomputationArch, seqLen: number, vocab = 64): ModelBatch {
  const rng = new Rng(11);
  const B = 2;
  const ids = Array.from({ length: B * seqLen }, () => rng.int(vocab));
  const mask = ids.map((_, i) => (i === seqLen - 1 ? 0 : 1));
  const inputIds = tf.tensor2d(ids, [B, seqLen], 'int32');
  const attentionMask = tf.tensor2d(mask, [B, seqLen], 'int32');
  const labels =
    arch === 'bert'
      ? tf.tensor1d([1, 2], 'int32')
      : tf.tensor2d(
          ids.map((id, i) => (mask[i] ? id : -100)),
          [B, seqLen],
          'int32',
        );
  return { inputIds, attentionMask, labels };
}

/** One adapter config checked on one architecture by `describeRecomputation`. */
export interface RecomputationArchCase {
  arch: RecomputationArch;
  /** PEFT's fields (`peft_type` defaults to the method's). */
  config: Record<string, unknown>;
  /** Shown in the test name. */
  name?: string;
}

/**
 * Registers one vitest test a case: `expectRecomputationMatches` for `method` on the tiny model
 * of the case's architecture (equal loss and gradients, numTensors flat, a lower peak).
 */
export function describeRecomputation(method: PeftMethod<PeftConfigBase>, cases: readonly RecomputationArchCase[]): void {
  describe(`${method.meta.name} with activation recomputation (gradientCheckpointing)`, () => {
    for (const c of cases) {
      it(`${c.name ?? c.arch}: a step gives the loss and gradients of the plain step, numTensors stay flat, the peak is lower`, async () => {
        const r = await expectRecomputationMatches({
          method,
          config: c.config,
          model: () => recomputationModel(c.arch),
          batch: (T) => recomputationBatch(c.arch, T),
        });
        console.log(
          `${method.meta.name} ${c.name ?? c.arch}: gradient rel diff ${r.gradRelDiff.toExponential(2)}, peak bytes ${r.peakBytes.plain} → ${r.peakBytes.recompute}`,
        );
      });
    }
  });
}
