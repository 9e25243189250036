import { PROMPT_LEARNING_DEFAULTS, checkPromptLearningFields, type PeftConfigBase, type PromptLearningFields } from '@peftjs/core';

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

/** PEFT's defaults. */
export const PREFIX_TUNING_DEFAULTS = {
  ...PROMPT_LEARNING_DEFAULTS,
  encoder_hidden_size: null,
  prefix_projection: false,
  init_weights: null,
} as const;

function fail(field: string, msg: string): never {
  throw new Error(`Prefix Tuning ${field} ${msg}`);
}

export { fail as prefixConfigError };

/** Validates a raw Prefix Tuning config and fills PEFT's defaults. Errors name the field. */
export function parsePrefixTuningConfig(raw: Record<string, unknown>): PrefixTuningConfig {
  if (raw.peft_type !== undefined && raw.peft_type !== 'PREFIX_TUNING') fail('peft_type', `must be "PREFIX_TUNING", got ${JSON.stringify(raw.peft_type)}`);
  const c = { ...PREFIX_TUNING_DEFAULTS, ...raw, peft_type: 'PREFIX_TUNING' } as unknown as PrefixTuningConfig;
  checkPromptLearningFields(c, fail);
  if (typeof c.prefix_projection !== 'boolean') fail('prefix_projection', `must be true or false, got ${JSON.stringify(c.prefix_projection)}`);
  const h = c.encoder_hidden_size;
  if (h != null && !(Number.isInteger(h) && h > 0)) fail('encoder_hidden_size', `must be a positive integer or null, got ${JSON.stringify(h)}`);
  if (c.init_weights != null && c.init_weights !== 'zero') fail('init_weights', `must be null or "zero", got ${JSON.stringify(c.init_weights)}`);
  return c;
}

/** The config as PEFT writes it (`init_weights` only when set, so that PEFT 0.10 reads our files). */
export function prefixTuningConfigToJSON(c: PrefixTuningConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  if (out.init_weights == null) delete out.init_weights;
  return out;
}
