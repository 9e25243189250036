import type { ModelDims } from './sites.js';
import { field, showValue } from './config-fields.js';

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

/**
 * The fields of PEFT's `PromptLearningConfig` for `defineConfigFields` (spread them into a prompt
 * method's table), with PEFT 0.10's defaults: null sizes are filled from the model at injection.
 */
export const PROMPT_LEARNING_FIELDS = {
  num_virtual_tokens: field.required(field.positiveInt(0)),
  token_dim: field.positiveInt(null, { nullable: true }),
  num_transformer_submodules: field.custom<number | null>(null, (v, fail) => {
    if (v == null) return null;
    if (v !== 1) fail(`must be 1 (encoder-decoder models are not supported), got ${showValue(v)}`);
    return 1;
  }),
  num_attention_heads: field.positiveInt(null, { nullable: true }),
  num_layers: field.positiveInt(null, { nullable: true }),
  auto_mapping: field.keep(null),
};

/** The name PEFT saves a prompt-learning adapter's virtual tokens under (`prompt_embeddings`). */
export const PROMPT_EMBEDDINGS = 'prompt_embeddings';

/**
 * The file peftjs writes beside a prompt-learning adapter whose prompt comes from an encoder PEFT
 * does not keep after training (P-Tuning's MLP/LSTM, Prefix Tuning's projection), so that training
 * can resume from it: `model.prompt_encoder["default"].load_state_dict(load_file(path))` in Python.
 */
export const ENCODER_FILE = 'peftjs_prompt_encoder.safetensors';

/** How a method reports an invalid field: throws an error naming the method and the field. */
type Fail = (field: string, msg: string) => never;

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
