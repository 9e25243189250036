import type { PeftConfigBase } from '@peftjs/core';

/** PEFT's `IA3Config`, field for field (snake_case, as in `adapter_config.json`). */
export interface Ia3Config extends PeftConfigBase {
  peft_type: 'IA3';
  task_type: string | null;
  /** A string is a full-match regex, a list an exact or `.suffix` match; null: PEFT's default for the architecture. */
  target_modules: string | string[] | null;
  /** Targets whose input is scaled (PEFT: regex full match, or a list matched with `endswith`); the others' output is. */
  feedforward_modules: string | string[] | null;
  fan_in_fan_out: boolean;
  modules_to_save: string[] | null;
  /** Start every vector at ones (the identity); false draws them from N(0, 1). */
  init_ia3_weights: boolean;
}

declare module '@peftjs/core' {
  interface PeftConfigRegistry {
    IA3: Ia3Config;
  }
}

const DEFAULTS: Omit<Ia3Config, 'peft_type'> = {
  task_type: null,
  target_modules: null,
  feedforward_modules: null,
  fan_in_fan_out: false,
  modules_to_save: null,
  init_ia3_weights: true,
  base_model_name_or_path: null,
  revision: null,
  inference_mode: false,
  auto_mapping: null,
};

function fail(field: string, msg: string): never {
  throw new Error(`IA3 ${field} ${msg}`);
}

function stringOrList(field: string, v: unknown): string | string[] | null {
  if (v == null) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return [...v];
  return fail(field, `must be a string or a list of strings, got ${JSON.stringify(v)}`);
}

/** Validates a raw (IA)³ config and fills PEFT's defaults; errors name the field. */
export function parseIa3Config(raw: Record<string, unknown>): Ia3Config {
  if (raw.peft_type !== undefined && raw.peft_type !== 'IA3') fail('peft_type', `must be "IA3", got ${JSON.stringify(raw.peft_type)}`);
  const c = { ...DEFAULTS, ...raw, peft_type: 'IA3' } as Ia3Config;
  c.target_modules = stringOrList('target_modules', c.target_modules);
  c.feedforward_modules = stringOrList('feedforward_modules', c.feedforward_modules);
  for (const f of ['fan_in_fan_out', 'init_ia3_weights', 'inference_mode'] as const) {
    if (typeof c[f] !== 'boolean') fail(f, `must be true or false, got ${JSON.stringify(c[f])}`);
  }
  if (c.modules_to_save != null && !(Array.isArray(c.modules_to_save) && c.modules_to_save.every((s) => typeof s === 'string'))) {
    fail('modules_to_save', `must be a list of module names, got ${JSON.stringify(c.modules_to_save)}`);
  }
  const [t, ff] = [c.target_modules, c.feedforward_modules];
  if (Array.isArray(t) && Array.isArray(ff) && ff.some((m) => !t.includes(m))) {
    fail('feedforward_modules', `must be a subset of target_modules: ${JSON.stringify(ff.filter((m) => !t.includes(m)))} not in ${JSON.stringify(t)}`);
  }
  return c;
}

/** PEFT's default targets per `model_type` (TRANSFORMERS_MODELS_TO_IA3_*_MODULES_MAPPING). */
export const IA3_DEFAULT_MODULES: Readonly<Record<string, { target: string[]; feedforward: string[] }>> = {
  llama: { target: ['k_proj', 'v_proj', 'down_proj'], feedforward: ['down_proj'] },
  gpt2: { target: ['c_attn', 'mlp.c_proj'], feedforward: ['mlp.c_proj'] },
  bert: { target: ['key', 'value', 'output.dense'], feedforward: ['output.dense'] },
};
