import { defineConfigFields, field, type PeftConfigBase } from '@peftjs/core';

/** Per module, which of its `init_r` ranks are kept: `"<module path>.lora_E": [true, false, …]`. */
export type RankPattern = Record<string, boolean[]>;

/** PEFT's `AdaLoraConfig` (a `LoraConfig` with the allocator's fields), snake_case as in `adapter_config.json`. */
export interface AdaLoraConfig extends PeftConfigBase {
  peft_type: 'ADALORA';
  task_type: string | null;
  /** The initial rank of every adapted module. */
  init_r: number;
  /** The average rank the budget shrinks to (total budget = target_r × modules). */
  target_r: number;
  /** Warm-up steps before the budget starts to shrink. */
  tinit: number;
  /** Final steps with the rank pattern fixed. */
  tfinal: number;
  /** Steps between two allocations while the budget shrinks. */
  deltaT: number;
  /** EMA coefficient of the sensitivity |w·∇w|. */
  beta1: number;
  /** EMA coefficient of the uncertainty |I − Ī|. */
  beta2: number;
  /** Weight of the orthogonal regulariser ‖AAᵀ − I‖_F, ‖BᵀB − I‖_F added to the loss. */
  orth_reg_weight: number;
  /** The planned number of training steps (the budget schedule's length). */
  total_step: number | null;
  /** The kept ranks, set by the allocator; a loaded adapter is sized by it. */
  rank_pattern: RankPattern | null;
  /** PEFT's `LoraConfig.r`: unused by AdaLoRA (`init_r` sets the rank); kept so that files round-trip. */
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string | string[] | null;
  fan_in_fan_out: boolean;
  bias: 'none' | 'all' | 'lora_only';
  use_rslora: boolean;
  modules_to_save: string[] | null;
  init_lora_weights: boolean;
  layers_to_transform: number | number[] | null;
  layers_pattern: string | string[] | null;
  alpha_pattern: Record<string, number>;
  use_dora: boolean;
  base_model_name_or_path: string | null;
  revision: string | null;
  inference_mode: boolean;
}

declare module '@peftjs/core' {
  interface PeftConfigRegistry {
    ADALORA: AdaLoraConfig;
  }
}

const rankPatternField = field.custom<RankPattern | null>(null, (v, fail) => {
  if (v == null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) fail(`must be an object of module → list of booleans, got ${JSON.stringify(v)}`);
  const out: RankPattern = {};
  for (const [k, mask] of Object.entries(v as Record<string, unknown>)) {
    if (!Array.isArray(mask) || !mask.every((b) => typeof b === 'boolean'))
      fail(`must be a list of booleans, got ${JSON.stringify(mask)}`, `rank_pattern["${k}"]`);
    out[k] = [...(mask as boolean[])];
  }
  return out;
});

/** Must be empty (`{}`, or null): AdaLoRA has no use for the field. */
const emptyField = (why: string) =>
  field.custom<Record<string, never> | null>({}, (v, fail) => {
    if (v != null && (typeof v !== 'object' || Object.keys(v as object).length > 0)) fail(why);
    return v == null ? null : {};
  });

/** The fields of PEFT 0.10's `AdaLoraConfig`: types, ranges and PEFT's defaults. */
export const ADALORA_FIELDS = defineConfigFields('AdaLoRA', 'ADALORA', {
  init_r: field.positiveInt(12),
  target_r: field.positiveInt(8),
  tinit: field.nonNegativeInt(0),
  tfinal: field.nonNegativeInt(0),
  deltaT: field.positiveInt(1),
  beta1: field.float(0.85, { min: 0, max: 1, minOpen: true, maxOpen: true }),
  beta2: field.float(0.85, { min: 0, max: 1, minOpen: true, maxOpen: true }),
  orth_reg_weight: field.float(0.5, { min: 0, minOpen: true }),
  total_step: field.positiveInt(null, { nullable: true }),
  rank_pattern: rankPatternField,
  r: field.custom(8, (v, fail) =>
    Number.isInteger(v) && (v as number) >= 0
      ? (v as number)
      : fail(`must be a non-negative integer (it is unused: set init_r), got ${JSON.stringify(v)}`),
  ),
  lora_alpha: field.number(8),
  lora_dropout: field.float(0, { min: 0, max: 1, maxOpen: true }),
  target_modules: field.stringOrList(),
  fan_in_fan_out: field.bool(false),
  bias: field.custom<'none'>('none', (v, fail) =>
    v === 'none' ? v : fail(`"${String(v)}" is not supported by @peftjs/adalora; use "none"`),
  ),
  use_rslora: field.custom(false, (v, fail) =>
    v === false
      ? v
      : fail(
          typeof v === 'boolean'
            ? 'is not used by AdaLoRA (its scale is lora_alpha / ranknum); set it to false'
            : `must be true or false, got ${JSON.stringify(v)}`,
        ),
  ),
  modules_to_save: field.moduleList(),
  init_lora_weights: field.bool(true),
  layers_to_transform: field.layerIndices(),
  layers_pattern: field.stringOrList(),
  alpha_pattern: field.custom<Record<string, number>>({}, (v, fail) =>
    v == null || (typeof v === 'object' && Object.keys(v).length === 0) ? {} : fail('is not used by AdaLoRA; leave it empty'),
  ),
  use_dora: field.custom(false, (v, fail) =>
    v === false
      ? v
      : fail(typeof v === 'boolean' ? 'is not supported by AdaLoRA; set it to false' : `must be true or false, got ${JSON.stringify(v)}`),
  ),
  loftq_config: emptyField('is not supported by AdaLoRA; leave it empty'),
  // Fields PEFT 0.10 writes that we carry unchanged (no behaviour here).
  auto_mapping: field.keep(null),
  layer_replication: field.keep(null),
  megatron_config: field.keep(null),
  megatron_core: field.keep('megatron.core'),
});

/** PEFT 0.10's defaults. */
export const ADALORA_DEFAULTS = ADALORA_FIELDS.defaults;

/** Fields Python writes as floats. */
export const ADALORA_FLOAT_FIELDS = ADALORA_FIELDS.floatFields;

/**
 * Validates a raw AdaLoRA config and fills PEFT's defaults; errors name the field. `total_step` is
 * required unless the adapter is loaded for inference (`inference_mode: true`, as saved files are).
 */
export function parseAdaLoraConfig(raw: Record<string, unknown>): AdaLoraConfig {
  const fail = ADALORA_FIELDS.fail;
  const c = ADALORA_FIELDS.parse(raw) as AdaLoraConfig;
  if (c.target_r > c.init_r && c.inference_mode !== true)
    fail('target_r', `(${c.target_r}) must not exceed init_r (${c.init_r}): the budget only shrinks`);
  if (c.total_step == null && c.inference_mode !== true) {
    fail('total_step', 'must be set to the planned number of training steps (the budget schedule needs it), got null');
  }
  if (c.total_step != null && !(c.tinit < c.total_step - c.tfinal)) {
    fail(
      'tinit',
      `(${c.tinit}) must be less than total_step - tfinal (${c.total_step} - ${c.tfinal}): no step is left for the budget schedule`,
    );
  }
  const ltt = c.layers_to_transform;
  if (c.layers_pattern != null && ltt == null) fail('layers_pattern', 'is only used together with layers_to_transform');
  if (typeof c.target_modules === 'string' && ltt != null)
    fail('layers_to_transform', 'cannot be used when target_modules is a string (regex)');
  for (const [k, mask] of Object.entries(c.rank_pattern ?? {})) {
    if (mask.length !== c.init_r) fail(`rank_pattern["${k}"]`, `has ${mask.length} entries but init_r is ${c.init_r}`);
  }
  return c;
}

/** The config as PEFT writes it (every field of PEFT 0.10's AdaLoraConfig). */
export function adaLoraConfigToJSON(c: AdaLoraConfig): Record<string, unknown> {
  return { ...c, rank_pattern: c.rank_pattern ? structuredClone(c.rank_pattern) : null };
}

/** The kept-rank mask of a module in a rank pattern (keys `<path>.lora_E`, with or without the adapter name). */
export function rankMask(pattern: RankPattern | null, path: string, adapterName: string): boolean[] | undefined {
  if (!pattern) return undefined;
  return pattern[`${path}.lora_E`] ?? pattern[`${path}.lora_E.${adapterName}`];
}
