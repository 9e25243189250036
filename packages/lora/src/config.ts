import { defineConfigFields, field, type PeftConfigBase } from '@peftjs/core';

export type LoraBias = 'none' | 'all' | 'lora_only';
export type LoraInit = boolean | 'gaussian';

/** PEFT's `LoraConfig`, field for field (snake_case, as in `adapter_config.json`). */
export interface LoraConfig extends PeftConfigBase {
  peft_type: 'LORA';
  task_type: string | null;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  /** A string is a full-match regex, a list an exact or `.suffix` match, `all-linear` every linear but the head. null: PEFT's default for the architecture. */
  target_modules: string | string[] | null;
  exclude_modules: string | string[] | null;
  fan_in_fan_out: boolean;
  bias: LoraBias;
  /** A trainable bias on lora_B (newer PEFT). */
  lora_bias: boolean;
  use_rslora: boolean;
  modules_to_save: string[] | null;
  init_lora_weights: LoraInit;
  layers_to_transform: number | number[] | null;
  layers_pattern: string | string[] | null;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  use_dora: boolean;
  base_model_name_or_path: string | null;
  revision: string | null;
  inference_mode: boolean;
}

declare module '@peftjs/core' {
  interface PeftConfigRegistry {
    LORA: LoraConfig;
  }
}

/** The fields of PEFT 0.10's `LoraConfig`: types, ranges and PEFT's defaults. */
export const LORA_FIELDS = defineConfigFields('LoRA', 'LORA', {
  r: field.positiveInt(8),
  lora_alpha: field.number(8),
  lora_dropout: field.float(0, { min: 0, max: 1, maxOpen: true }),
  target_modules: field.stringOrList(),
  exclude_modules: field.stringOrList(),
  fan_in_fan_out: field.bool(false),
  bias: field.oneOf(['none', 'all', 'lora_only'] as const, 'none'),
  lora_bias: field.bool(false),
  use_rslora: field.bool(false),
  modules_to_save: field.moduleList(),
  init_lora_weights: field.oneOf([true, false, 'gaussian'] as const, true),
  layers_to_transform: field.layerIndices(),
  layers_pattern: field.stringOrList(),
  rank_pattern: field.patternMap(field.positiveInt(1)),
  alpha_pattern: field.patternMap(field.number(1)),
  use_dora: field.bool(false),
  // Fields PEFT 0.10 writes that we carry unchanged (no behaviour here).
  auto_mapping: field.keep(null),
  layer_replication: field.keep(null),
  loftq_config: field.keep({}),
  megatron_config: field.keep(null),
  megatron_core: field.keep('megatron.core'),
});

/** PEFT's defaults (peft 0.10 `LoraConfig`). */
export const LORA_DEFAULTS = LORA_FIELDS.defaults;

/** Fields newer PEFT added: written only when not default, so that PEFT 0.10 still loads our files. */
const NEWER_FIELDS = ['exclude_modules', 'lora_bias'] as const;

/** Validates a raw LoRA config and fills PEFT's defaults. Errors name the field. */
export function parseLoraConfig(raw: Record<string, unknown>): LoraConfig {
  const c = LORA_FIELDS.parse(raw) as LoraConfig;
  const fail = LORA_FIELDS.fail;
  if (c.use_dora) fail('use_dora', 'is not supported by @peftjs/lora (DoRA is not implemented); set it to false');
  const ltt = c.layers_to_transform;
  if (c.layers_pattern != null && ltt == null) fail('layers_pattern', 'is only used together with layers_to_transform');
  if (typeof c.target_modules === 'string' && ltt != null) {
    fail('layers_to_transform', 'cannot be used when target_modules is a string (regex); use a list of module names');
  }
  return c;
}

/** The config as PEFT writes it. */
export function loraConfigToJSON(c: LoraConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  for (const f of NEWER_FIELDS) if (out[f] === LORA_DEFAULTS[f]) delete out[f];
  return out;
}

/** The rank and α of one module, after `rank_pattern` / `alpha_pattern` (PEFT: key matches `(^|.*\.)key$`). */
export function rankAndAlpha(c: LoraConfig, path: string): { r: number; alpha: number } {
  const pick = (pattern: Record<string, number>, fallback: number) => {
    for (const key of Object.keys(pattern)) {
      if (new RegExp(`(^|.*\\.)${key}$`).test(path)) return pattern[key];
    }
    return fallback;
  };
  return { r: pick(c.rank_pattern, c.r), alpha: pick(c.alpha_pattern, c.lora_alpha) };
}
