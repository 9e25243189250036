import type { ModelDims } from '@peftjs/core';

/**
 * The fields of PEFT's `PromptLearningConfig` (shared by Prompt Tuning, Prefix Tuning and
 * P-Tuning), in PEFT's snake_case. Null sizes are filled from the model at injection, as PEFT's
 * `_prepare_prompt_learning_config` does.
 */
export interface PromptLearningFields {
  num_virtual_tokens: number;
  /** Hidden size of the base model's token embeddings. */
  token_dim: number | null;
  /** 1 for decoder-only and encoder-only models (2 is for encoder-decoder models, not built here). */
  num_transformer_submodules: number | null;
  num_attention_heads: number | null;
  num_layers: number | null;
}

/** The defaults PEFT 0.10 writes for every prompt-learning config. */
export const PROMPT_LEARNING_DEFAULTS = {
  auto_mapping: null,
  base_model_name_or_path: null,
  revision: null,
  task_type: null,
  inference_mode: false,
  token_dim: null,
  num_transformer_submodules: null,
  num_attention_heads: null,
  num_layers: null,
} as const;

type Fail = (field: string, msg: string) => never;

function isPositiveInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x > 0;
}

/** Validates the shared fields in place; errors name the field. */
export function checkPromptLearningFields(c: PromptLearningFields & { inference_mode?: unknown }, fail: Fail): void {
  if (!isPositiveInt(c.num_virtual_tokens)) fail('num_virtual_tokens', `must be a positive integer, got ${JSON.stringify(c.num_virtual_tokens)}`);
  for (const f of ['token_dim', 'num_attention_heads', 'num_layers', 'num_transformer_submodules'] as const) {
    if (c[f] != null && !isPositiveInt(c[f])) fail(f, `must be a positive integer or null, got ${JSON.stringify(c[f])}`);
  }
  if (c.num_transformer_submodules != null && c.num_transformer_submodules !== 1) {
    fail('num_transformer_submodules', `must be 1 (encoder-decoder models are not supported), got ${c.num_transformer_submodules}`);
  }
  if (typeof c.inference_mode !== 'boolean') fail('inference_mode', `must be true or false, got ${JSON.stringify(c.inference_mode)}`);
}

/**
 * Fills null sizes from the model and checks given ones against it. The prefix holds keys and
 * values, so with grouped-query attention it is sized by the key/value heads, as newer PEFT's
 * `_prepare_prompt_learning_config` does (token_dim ← token_dim / heads · kv_heads,
 * num_attention_heads ← kv_heads; a no-op on sizes already given that way). PEFT 0.10 sized it by
 * the query heads and failed inside the model.
 */
export function fillPrefixSizes(c: PromptLearningFields, dims: ModelDims, fail: Fail): void {
  c.num_layers ??= dims.numLayers;
  c.num_attention_heads ??= dims.numHeads;
  c.token_dim ??= dims.hiddenSize;
  c.num_transformer_submodules ??= 1;
  if (c.token_dim % c.num_attention_heads !== 0) fail('token_dim', `(${c.token_dim}) must be a multiple of num_attention_heads (${c.num_attention_heads})`);
  if (dims.numKvHeads !== dims.numHeads) {
    c.token_dim = (c.token_dim / c.num_attention_heads) * dims.numKvHeads;
    c.num_attention_heads = dims.numKvHeads;
  }
  const what = `model ${dims.modelType}`;
  if (c.num_layers !== dims.numLayers) fail('num_layers', `must be the number of layers of ${what} (${dims.numLayers}), got ${c.num_layers}`);
  if (c.num_attention_heads !== dims.numKvHeads) {
    fail('num_attention_heads', `must be the number of key/value heads of ${what} (${dims.numKvHeads}), got ${c.num_attention_heads}`);
  }
  if (c.token_dim / c.num_attention_heads !== dims.headDim) {
    fail('token_dim', `/ num_attention_heads must be the head size of ${what} (${dims.headDim}), got ${c.token_dim} / ${c.num_attention_heads}`);
  }
}
