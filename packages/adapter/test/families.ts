import * as tf from '@tensorflow/tfjs-core';
import { Rng, type ModelOutput, type PeftBaseModel, type TokenBatch } from '@peftjs/core';
import { modelFromConfig, type HfConfig } from '@peftjs/models';

/** Small random models of the three families (the shapes of the fixtures' bases). */
export const FAMILY_CONFIGS: Record<'llama' | 'gpt2' | 'bert', HfConfig> = {
  llama: {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: 128,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
  },
  gpt2: { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 128, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 64 },
  bert: {
    model_type: 'bert',
    architectures: ['BertForSequenceClassification'],
    vocab_size: 128,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    max_position_embeddings: 64,
    num_labels: 3,
    id2label: { 0: 'a', 1: 'b', 2: 'c' },
  },
};

export type Family = keyof typeof FAMILY_CONFIGS;
export const FAMILIES = Object.keys(FAMILY_CONFIGS) as Family[];

export function familyModel(family: Family, seed = 0): PeftBaseModel<TokenBatch, ModelOutput> {
  return modelFromConfig(FAMILY_CONFIGS[family], { rng: new Rng(seed) }) as unknown as PeftBaseModel<TokenBatch, ModelOutput>;
}

/** Two rows of 7 ids, the second right-padded by 2; labels for the family's task. */
export function familyBatch(family: Family, labels = false): TokenBatch {
  const ids = tf.tensor2d(
    [
      [5, 9, 17, 33, 2, 77, 101],
      [8, 64, 3, 12, 90, 0, 0],
    ],
    [2, 7],
    'int32',
  );
  const attentionMask = tf.tensor2d(
    [
      [1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 0, 0],
    ],
    [2, 7],
    'int32',
  );
  if (!labels) return { inputIds: ids, attentionMask };
  return { inputIds: ids, attentionMask, labels: family === 'bert' ? tf.tensor1d([2, 0], 'int32') : ids };
}
