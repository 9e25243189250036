import { defineConfigFields, field, type ConfigOf } from '@peftjs/core';

/** PEFT's `IA3Config`, field for field (snake_case, as in `adapter_config.json`), with PEFT's defaults. */
export const IA3_FIELDS = defineConfigFields('IA3', 'IA3', {
  /** A string is a full-match regex, a list an exact or `.suffix` match; null: PEFT's default for the architecture. */
  target_modules: field.stringOrList(),
  /** Targets whose input is scaled (PEFT: regex full match, or a list matched with `endswith`); the others' output is. */
  feedforward_modules: field.stringOrList(),
  fan_in_fan_out: field.bool(false),
  modules_to_save: field.moduleList(),
  /** Start every vector at ones (the identity); false draws them from N(0, 1). */
  init_ia3_weights: field.bool(true),
  auto_mapping: field.keep(null),
});

export type Ia3Config = ConfigOf<typeof IA3_FIELDS>;

declare module '@peftjs/core' {
  interface PeftConfigRegistry {
    IA3: Ia3Config;
  }
}

/** Validates a raw (IA)³ config and fills PEFT's defaults; errors name the field. */
export function parseIa3Config(raw: Record<string, unknown>): Ia3Config {
  const c = IA3_FIELDS.parse(raw);
  const [t, ff] = [c.target_modules, c.feedforward_modules];
  if (Array.isArray(t) && Array.isArray(ff) && ff.some((m) => !t.includes(m))) {
    IA3_FIELDS.fail(
      'feedforward_modules',
      `must be a subset of target_modules: ${JSON.stringify(ff.filter((m) => !t.includes(m)))} not in ${JSON.stringify(t)}`,
    );
  }
  return c;
}

/** PEFT's default targets per `model_type` (TRANSFORMERS_MODELS_TO_IA3_*_MODULES_MAPPING). */
export const IA3_DEFAULT_MODULES: Readonly<Record<string, { target: string[]; feedforward: string[] }>> = {
  llama: { target: ['k_proj', 'v_proj', 'down_proj'], feedforward: ['down_proj'] },
  gpt2: { target: ['c_attn', 'mlp.c_proj'], feedforward: ['mlp.c_proj'] },
  bert: { target: ['key', 'value', 'output.dense'], feedforward: ['output.dense'] },
};
