import type { PeftConfigBase } from '@peftjs/core';

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

/** PEFT 0.10's defaults. */
export const ADALORA_DEFAULTS: Omit<AdaLoraConfig, 'peft_type'> = {
  task_type: null,
  init_r: 12,
  target_r: 8,
  tinit: 0,
  tfinal: 0,
  deltaT: 1,
  beta1: 0.85,
  beta2: 0.85,
  orth_reg_weight: 0.5,
  total_step: null,
  rank_pattern: null,
  r: 8,
  lora_alpha: 8,
  lora_dropout: 0,
  target_modules: null,
  fan_in_fan_out: false,
  bias: 'none',
  use_rslora: false,
  modules_to_save: null,
  init_lora_weights: true,
  layers_to_transform: null,
  layers_pattern: null,
  alpha_pattern: {},
  use_dora: false,
  base_model_name_or_path: null,
  revision: null,
  inference_mode: false,
};

/** Fields PEFT 0.10 writes that we carry unchanged (no behaviour here). */
const PASSTHROUGH_DEFAULTS: Record<string, unknown> = {
  auto_mapping: null,
  layer_replication: null,
  loftq_config: {},
  megatron_config: null,
  megatron_core: 'megatron.core',
};

/** Fields Python writes as floats. */
export const ADALORA_FLOAT_FIELDS = ['lora_dropout', 'beta1', 'beta2', 'orth_reg_weight'] as const;

function fail(field: string, msg: string): never {
  throw new Error(`AdaLoRA ${field} ${msg}`);
}

const show = (v: unknown) => JSON.stringify(v) ?? String(v);
const isInt = (x: unknown, min: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min;

function stringOrList(field: string, v: unknown): string | string[] | null {
  if (v == null) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return [...v];
  return fail(field, `must be a string or a list of strings, got ${show(v)}`);
}

function parseRankPattern(v: unknown, initR: number): RankPattern | null {
  if (v == null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) fail('rank_pattern', `must be an object of module → list of booleans, got ${show(v)}`);
  const out: RankPattern = {};
  for (const [k, mask] of Object.entries(v as Record<string, unknown>)) {
    if (!Array.isArray(mask) || !mask.every((b) => typeof b === 'boolean')) fail(`rank_pattern["${k}"]`, `must be a list of booleans, got ${show(mask)}`);
    if (mask.length !== initR) fail(`rank_pattern["${k}"]`, `has ${mask.length} entries but init_r is ${initR}`);
    out[k] = [...(mask as boolean[])];
  }
  return out;
}

/**
 * Validates a raw AdaLoRA config and fills PEFT's defaults; errors name the field. `total_step` is
 * required unless the adapter is loaded for inference (`inference_mode: true`, as saved files are).
 */
export function parseAdaLoraConfig(raw: Record<string, unknown>): AdaLoraConfig {
  if (raw.peft_type !== undefined && raw.peft_type !== 'ADALORA') fail('peft_type', `must be "ADALORA", got ${show(raw.peft_type)}`);
  const c = { ...PASSTHROUGH_DEFAULTS, ...ADALORA_DEFAULTS, ...raw, peft_type: 'ADALORA' } as AdaLoraConfig;
  if (!isInt(c.init_r, 1)) fail('init_r', `must be a positive integer, got ${show(c.init_r)}`);
  if (!isInt(c.target_r, 1)) fail('target_r', `must be a positive integer, got ${show(c.target_r)}`);
  if (c.target_r > c.init_r && c.inference_mode !== true) fail('target_r', `(${c.target_r}) must not exceed init_r (${c.init_r}): the budget only shrinks`);
  for (const f of ['tinit', 'tfinal'] as const) if (!isInt(c[f], 0)) fail(f, `must be a non-negative integer, got ${show(c[f])}`);
  if (!isInt(c.deltaT, 1)) fail('deltaT', `must be a positive integer, got ${show(c.deltaT)}`);
  for (const f of ['beta1', 'beta2'] as const) {
    if (typeof c[f] !== 'number' || !(c[f] > 0 && c[f] < 1)) fail(f, `must be a number in (0, 1), got ${show(c[f])}`);
  }
  if (typeof c.orth_reg_weight !== 'number' || !(c.orth_reg_weight > 0)) fail('orth_reg_weight', `must be greater than 0, got ${show(c.orth_reg_weight)}`);
  if (!isInt(c.r, 0)) fail('r', `must be a non-negative integer (it is unused: set init_r), got ${show(c.r)}`);
  if (c.total_step != null && !isInt(c.total_step, 1)) fail('total_step', `must be a positive integer, got ${show(c.total_step)}`);
  if (c.total_step == null && c.inference_mode !== true) {
    fail('total_step', 'must be set to the planned number of training steps (the budget schedule needs it), got null');
  }
  if (c.total_step != null && !(c.tinit < c.total_step - c.tfinal)) {
    fail('tinit', `(${c.tinit}) must be less than total_step - tfinal (${c.total_step} - ${c.tfinal}): no step is left for the budget schedule`);
  }
  if (typeof c.lora_alpha !== 'number' || !Number.isFinite(c.lora_alpha)) fail('lora_alpha', `must be a finite number, got ${show(c.lora_alpha)}`);
  if (typeof c.lora_dropout !== 'number' || !(c.lora_dropout >= 0 && c.lora_dropout < 1)) fail('lora_dropout', `must be a number in [0, 1), got ${show(c.lora_dropout)}`);
  c.target_modules = stringOrList('target_modules', c.target_modules);
  for (const f of ['fan_in_fan_out', 'use_rslora', 'use_dora', 'inference_mode', 'init_lora_weights'] as const) {
    if (typeof c[f] !== 'boolean') fail(f, `must be true or false, got ${show(c[f])}`);
  }
  if (c.use_dora) fail('use_dora', 'is not supported by AdaLoRA; set it to false');
  if (c.use_rslora) fail('use_rslora', 'is not used by AdaLoRA (its scale is lora_alpha / ranknum); set it to false');
  const loftq = c.loftq_config as unknown;
  if (loftq != null && (typeof loftq !== 'object' || Object.keys(loftq as object).length > 0)) fail('loftq_config', 'is not supported by AdaLoRA; leave it empty');
  if (c.bias !== 'none') fail('bias', `"${String(c.bias)}" is not supported by @peftjs/adalora; use "none"`);
  if (c.modules_to_save != null && !(Array.isArray(c.modules_to_save) && c.modules_to_save.every((s) => typeof s === 'string'))) {
    fail('modules_to_save', `must be a list of module names, got ${show(c.modules_to_save)}`);
  }
  const ltt = c.layers_to_transform;
  if (ltt != null && !(Number.isInteger(ltt) || (Array.isArray(ltt) && ltt.every((n) => Number.isInteger(n) && n >= 0)))) {
    fail('layers_to_transform', `must be a layer index or a list of them, got ${show(ltt)}`);
  }
  if (c.layers_pattern != null) c.layers_pattern = stringOrList('layers_pattern', c.layers_pattern);
  if (c.layers_pattern != null && ltt == null) fail('layers_pattern', 'is only used together with layers_to_transform');
  if (typeof c.target_modules === 'string' && ltt != null) fail('layers_to_transform', 'cannot be used when target_modules is a string (regex)');
  if (c.alpha_pattern != null && Object.keys(c.alpha_pattern).length > 0) fail('alpha_pattern', 'is not used by AdaLoRA; leave it empty');
  c.alpha_pattern = {};
  c.rank_pattern = parseRankPattern(c.rank_pattern, c.init_r);
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
