import type { PeftConfigBase } from '@peftjs/core';

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

/** PEFT's defaults (peft 0.10 `LoraConfig`), plus the fields PEFT writes that we keep as they are. */
export const LORA_DEFAULTS: Omit<LoraConfig, 'peft_type'> = {
  task_type: null,
  r: 8,
  lora_alpha: 8,
  lora_dropout: 0,
  target_modules: null,
  exclude_modules: null,
  fan_in_fan_out: false,
  bias: 'none',
  lora_bias: false,
  use_rslora: false,
  modules_to_save: null,
  init_lora_weights: true,
  layers_to_transform: null,
  layers_pattern: null,
  rank_pattern: {},
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

/** Fields newer PEFT added: written only when not default, so that PEFT 0.10 still loads our files. */
const NEWER_FIELDS = ['exclude_modules', 'lora_bias'] as const;

function fail(field: string, msg: string): never {
  throw new Error(`LoRA ${field} ${msg}`);
}

function isPositiveInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x > 0;
}

function stringOrList(field: string, v: unknown, allowNull = true): string | string[] | null {
  if (v == null && allowNull) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return [...v];
  return fail(field, `must be a string or a list of strings, got ${JSON.stringify(v)}`);
}

function numberRecord(field: string, v: unknown, check: (n: number) => boolean, what: string): Record<string, number> {
  if (v == null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(field, `must be an object of name → number, got ${JSON.stringify(v)}`);
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
    if (typeof n !== 'number' || !check(n)) fail(`${field}["${k}"]`, `must be ${what}, got ${JSON.stringify(n)}`);
    out[k] = n as number;
  }
  return out;
}

/** Validates a raw LoRA config and fills PEFT's defaults. Errors name the field. */
export function parseLoraConfig(raw: Record<string, unknown>): LoraConfig {
  const c = { ...PASSTHROUGH_DEFAULTS, ...LORA_DEFAULTS, ...raw, peft_type: 'LORA' } as LoraConfig;
  if (raw.peft_type !== undefined && raw.peft_type !== 'LORA') fail('peft_type', `must be "LORA", got ${JSON.stringify(raw.peft_type)}`);
  if (!isPositiveInt(c.r)) fail('r', `must be a positive integer, got ${JSON.stringify(c.r)}`);
  if (typeof c.lora_alpha !== 'number' || !Number.isFinite(c.lora_alpha)) fail('lora_alpha', `must be a finite number, got ${JSON.stringify(c.lora_alpha)}`);
  if (typeof c.lora_dropout !== 'number' || !(c.lora_dropout >= 0 && c.lora_dropout < 1)) {
    fail('lora_dropout', `must be a number in [0, 1), got ${JSON.stringify(c.lora_dropout)}`);
  }
  c.target_modules = stringOrList('target_modules', c.target_modules);
  c.exclude_modules = stringOrList('exclude_modules', c.exclude_modules);
  for (const f of ['fan_in_fan_out', 'use_rslora', 'lora_bias', 'use_dora', 'inference_mode'] as const) {
    if (typeof c[f] !== 'boolean') fail(f, `must be true or false, got ${JSON.stringify(c[f])}`);
  }
  if (c.use_dora) fail('use_dora', 'is not supported by @peftjs/lora (DoRA is not implemented); set it to false');
  if (!['none', 'all', 'lora_only'].includes(c.bias)) fail('bias', `must be "none", "all" or "lora_only", got ${JSON.stringify(c.bias)}`);
  if (!(c.init_lora_weights === true || c.init_lora_weights === false || c.init_lora_weights === 'gaussian')) {
    fail('init_lora_weights', `must be true, false or "gaussian", got ${JSON.stringify(c.init_lora_weights)}`);
  }
  if (c.modules_to_save != null && !(Array.isArray(c.modules_to_save) && c.modules_to_save.every((s) => typeof s === 'string'))) {
    fail('modules_to_save', `must be a list of module names, got ${JSON.stringify(c.modules_to_save)}`);
  }
  const ltt = c.layers_to_transform;
  if (ltt != null && !(Number.isInteger(ltt) || (Array.isArray(ltt) && ltt.every((n) => Number.isInteger(n) && n >= 0)))) {
    fail('layers_to_transform', `must be a layer index or a list of them, got ${JSON.stringify(ltt)}`);
  }
  if (c.layers_pattern != null) c.layers_pattern = stringOrList('layers_pattern', c.layers_pattern);
  if (c.layers_pattern != null && ltt == null) fail('layers_pattern', 'is only used together with layers_to_transform');
  if (typeof c.target_modules === 'string' && ltt != null) {
    fail('layers_to_transform', 'cannot be used when target_modules is a string (regex); use a list of module names');
  }
  c.rank_pattern = numberRecord('rank_pattern', c.rank_pattern, (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  c.alpha_pattern = numberRecord('alpha_pattern', c.alpha_pattern, Number.isFinite, 'a finite number');
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
