import {
  PROMPT_LEARNING_FIELDS,
  defineConfigFields,
  field,
  type ModelDims,
  type PeftConfigBase,
  type PromptLearningFields,
} from '@peftjs/core';

/** PEFT's `PrefixTuningConfig`, field for field (snake_case, as in `adapter_config.json`). */
export interface PrefixTuningConfig extends PeftConfigBase, PromptLearningFields {
  peft_type: 'PREFIX_TUNING';
  task_type: string | null;
  /** Hidden size of the projection MLP; null: token_dim. */
  encoder_hidden_size: number | null;
  /** Reparameterise the prefix by Embedding → Linear → Tanh → Linear (Li & Liang, §4.3). */
  prefix_projection: boolean;
  /** null: random; "zero": a prefix (or the projection's last layer) of zeros. Newer PEFT; written only when set. */
  init_weights: 'zero' | null;
  inference_mode: boolean;
}

declare module '@peftjs/core' {
  interface PeftConfigRegistry {
    PREFIX_TUNING: PrefixTuningConfig;
  }
}

/** The fields of PEFT's `PrefixTuningConfig`: types and PEFT's defaults. */
export const PREFIX_TUNING_FIELDS = defineConfigFields('Prefix Tuning', 'PREFIX_TUNING', {
  ...PROMPT_LEARNING_FIELDS,
  encoder_hidden_size: field.positiveInt(null, { nullable: true }),
  prefix_projection: field.bool(false),
  init_weights: field.oneOf([null, 'zero'] as const, null),
});

/** PEFT's defaults. */
export const PREFIX_TUNING_DEFAULTS = PREFIX_TUNING_FIELDS.defaults;

/** Validates a raw Prefix Tuning config and fills PEFT's defaults. Errors name the field. */
export function parsePrefixTuningConfig(raw: Record<string, unknown>): PrefixTuningConfig {
  return PREFIX_TUNING_FIELDS.parse(raw) as PrefixTuningConfig;
}

/**
 * Fills null sizes from the model and checks given ones against it. The prefix holds keys and
 * values, so with grouped-query attention it is sized by the key/value heads, as newer PEFT's
 * `_prepare_prompt_learning_config` does (token_dim ← token_dim / heads · kv_heads,
 * num_attention_heads ← kv_heads; a no-op on sizes already given that way). PEFT 0.10 sized it by
 * the query heads and failed inside the model.
 */
export function fillPrefixSizes(c: PromptLearningFields, dims: ModelDims): void {
  const fail = PREFIX_TUNING_FIELDS.fail;
  c.num_layers ??= dims.numLayers;
  c.num_attention_heads ??= dims.numHeads;
  c.token_dim ??= dims.hiddenSize;
  c.num_transformer_submodules ??= 1;
  if (c.token_dim % c.num_attention_heads !== 0)
    fail('token_dim', `(${c.token_dim}) must be a multiple of num_attention_heads (${c.num_attention_heads})`);
  if (dims.numKvHeads !== dims.numHeads) {
    c.token_dim = (c.token_dim / c.num_attention_heads) * dims.numKvHeads;
    c.num_attention_heads = dims.numKvHeads;
  }
  const what = `model ${dims.modelType}`;
  if (c.num_layers !== dims.numLayers)
    fail('num_layers', `must be the number of layers of ${what} (${dims.numLayers}), got ${c.num_layers}`);
  if (c.num_attention_heads !== dims.numKvHeads) {
    fail('num_attention_heads', `must be the number of key/value heads of ${what} (${dims.numKvHeads}), got ${c.num_attention_heads}`);
  }
  if (c.token_dim / c.num_attention_heads !== dims.headDim) {
    fail(
      'token_dim',
      `/ num_attention_heads must be the head size of ${what} (${dims.headDim}), got ${c.token_dim} / ${c.num_attention_heads}`,
    );
  }
}

/** The config as PEFT writes it (`init_weights` only when set, so that PEFT 0.10 reads our files). */
export function prefixTuningConfigToJSON(c: PrefixTuningConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  if (out.init_weights == null) delete out.init_weights;
  return out;
}
