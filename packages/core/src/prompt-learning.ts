import type { ModelDims } from './sites.js';

/**
 * The fields of PEFT's `PromptLearningConfig`, which every prompt-learning method's config
 * extends, in PEFT's snake_case. Null sizes are filled from the model at injection, as PEFT's
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

/** How a method reports an invalid field: throws an error naming the method and the field. */
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
 * Fills null sizes from the model (token_dim = hidden size, heads, layers) and checks given ones
 * against it. Methods that prepend to the input embeddings need token_dim = hidden size.
 */
export function fillFromModel(c: PromptLearningFields, dims: ModelDims, fail: Fail): void {
  c.token_dim ??= dims.hiddenSize;
  c.num_attention_heads ??= dims.numHeads;
  c.num_layers ??= dims.numLayers;
  c.num_transformer_submodules ??= 1;
  if (c.token_dim !== dims.hiddenSize) {
    fail('token_dim', `must be the hidden size of model ${dims.modelType} (${dims.hiddenSize}), got ${c.token_dim}`);
  }
}
