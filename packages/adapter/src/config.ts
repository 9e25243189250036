import { defineConfigFields, field, showValue, type FieldError, type PeftConfigBase } from '@peftjs/core';

export type NonLinearity = 'relu' | 'swish' | 'silu' | 'gelu' | 'gelu_new' | 'tanh' | 'leakyrelu' | 'sigmoid';
export type BottleneckInit = 'bert' | 'houlsby' | 'mam_adapter';

/** The `peft_type` of a bottleneck adapter (not a PEFT method: AdapterHub is the reference). */
export const BOTTLENECK_ADAPTER = 'BOTTLENECK_ADAPTER';

/**
 * A bottleneck adapter, in AdapterHub's `BnConfig` fields (snake_case as in its adapter_config.json).
 * The saved file nests these under `config`, beside `name`, `hidden_size` and `model_type`.
 */
export interface BottleneckConfig extends PeftConfigBase {
  peft_type: typeof BOTTLENECK_ADAPTER;
  task_type: string | null;
  architecture: 'bottleneck';
  /** An adapter after the attention block (`mh_adapter`). */
  mh_adapter: boolean;
  /** An adapter after the feed-forward block (`output_adapter`). */
  output_adapter: boolean;
  /** Bottleneck size = ⌊hidden / reduction_factor⌋ (at least 1); a map gives it per layer (`{"0": 8, "default": 16}`). */
  reduction_factor: number | Record<string, number>;
  non_linearity: NonLinearity;
  /** Add the sublayer's residual (and apply its original LayerNorm, where the model has one there) before the adapter. */
  original_ln_before: boolean;
  /** Add the residual (and apply the original LayerNorm) after the adapter; the models here always do. */
  original_ln_after: boolean;
  /** The adapter's skip connection takes the sublayer output (true), its LayerNorm input (false) or the sum after the residual ("post_add"). */
  residual_before_ln: boolean | 'post_add';
  /** With `ln_after`: add the skip connection before the new LayerNorm. */
  adapter_residual_before_ln: boolean;
  /** A new LayerNorm before the down-projection. */
  ln_before: boolean;
  /** A new LayerNorm after the up-projection. */
  ln_after: boolean;
  init_weights: BottleneckInit;
  /** Parallel adapter (He et al.): reads the sublayer's input, its output is added to the sublayer's. */
  is_parallel: boolean;
  /** Multiplies the up-projection: a constant, or trained (`learned`: one scalar; `channel`: one per feature). */
  scaling: number | 'learned' | 'channel';
  /** Gating (UniPELT) is not implemented: false only. */
  use_gating: boolean;
  /** Dropout on the adapter's output. */
  dropout: number;
  /** Layers (from 0) without adapters. */
  leave_out: number[];
  modules_to_save: string[] | null;
  inference_mode: boolean;
  /** AdapterHub's file fields: the adapter's name and the model it was made for (filled at injection). */
  name: string | null;
  hidden_size: number | null;
  model_type: string | null;
}

declare module '@peftjs/core' {
  interface PeftConfigRegistry {
    BOTTLENECK_ADAPTER: BottleneckConfig;
  }
}

type Architecture = Omit<
  BottleneckConfig,
  'peft_type' | 'task_type' | 'modules_to_save' | 'inference_mode' | 'name' | 'hidden_size' | 'model_type'
>;

/** AdapterHub's `BnConfig` defaults. */
const BN_DEFAULTS: Omit<Architecture, 'mh_adapter' | 'output_adapter' | 'reduction_factor' | 'non_linearity'> = {
  architecture: 'bottleneck',
  original_ln_before: false,
  original_ln_after: true,
  residual_before_ln: true,
  adapter_residual_before_ln: false,
  ln_before: false,
  ln_after: false,
  init_weights: 'bert',
  is_parallel: false,
  scaling: 1.0,
  use_gating: false,
  dropout: 0.0,
  leave_out: [],
};

/** AdapterHub's presets (and their old names). */
export const BOTTLENECK_PRESETS: Readonly<Record<string, Architecture>> = {
  /** Pfeiffer et al. (2020): after the feed-forward block only, original LayerNorm before. */
  seq_bn: {
    ...BN_DEFAULTS,
    original_ln_before: true,
    mh_adapter: false,
    output_adapter: true,
    non_linearity: 'relu',
    reduction_factor: 16,
  },
  /** Houlsby et al. (2019): after attention and after the feed-forward block. */
  double_seq_bn: { ...BN_DEFAULTS, mh_adapter: true, output_adapter: true, non_linearity: 'swish', reduction_factor: 16 },
  /** He et al. (2021): parallel to the feed-forward block, zero-initialised up-projection, scaled by 4. */
  par_bn: {
    ...BN_DEFAULTS,
    mh_adapter: false,
    output_adapter: true,
    non_linearity: 'relu',
    reduction_factor: 2,
    init_weights: 'mam_adapter',
    is_parallel: true,
    scaling: 4.0,
  },
};
const ALIASES: Record<string, string> = { pfeiffer: 'seq_bn', houlsby: 'double_seq_bn', parallel: 'par_bn' };

/** Fields of AdapterHub's BnConfig we do not implement, with the only value accepted. */
const UNSUPPORTED: Record<string, unknown> = {
  use_gating: false,
  phm_layer: false,
  inv_adapter: null,
  cross_adapter: false,
  stochastic_depth: 0,
};

const positive = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n > 0;

/** AdapterHub's `BnConfig` fields: types and ranges (defaults come from the preset). */
export const BOTTLENECK_FIELDS = defineConfigFields('Bottleneck adapter', BOTTLENECK_ADAPTER, {
  architecture: field.oneOf(['bottleneck'] as const, 'bottleneck'),
  mh_adapter: field.bool(false),
  output_adapter: field.bool(true),
  reduction_factor: field.custom<number | Record<string, number>>(16, (v, fail) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v))
        if (!positive(x)) fail(`must be a positive number, got ${JSON.stringify(x)}`, `reduction_factor["${k}"]`);
      return { ...(v as Record<string, number>) };
    }
    return positive(v) ? (v as number) : fail(`must be a positive number or a map of layer → number, got ${JSON.stringify(v)}`);
  }),
  non_linearity: field.oneOf(['relu', 'swish', 'silu', 'gelu', 'gelu_new', 'tanh', 'leakyrelu', 'sigmoid'] as const, 'relu'),
  original_ln_before: field.bool(false),
  original_ln_after: field.bool(true),
  residual_before_ln: field.oneOf([true, false, 'post_add'] as const, true),
  adapter_residual_before_ln: field.bool(false),
  ln_before: field.bool(false),
  ln_after: field.bool(false),
  init_weights: field.oneOf(['bert', 'houlsby', 'mam_adapter'] as const, 'bert'),
  is_parallel: field.bool(false),
  scaling: field.custom<number | 'learned' | 'channel'>(
    1.0,
    (v, fail) =>
      positive(v) || v === 'learned' || v === 'channel'
        ? (v as number | 'learned' | 'channel')
        : fail(`must be a positive number, "learned" or "channel", got ${JSON.stringify(v)}`),
    { float: true },
  ),
  use_gating: field.bool(false),
  dropout: field.float(0, { min: 0, max: 1, maxOpen: true }),
  leave_out: field.custom<number[]>([], (v, fail) =>
    Array.isArray(v) && v.every((n) => Number.isInteger(n) && n >= 0)
      ? [...v]
      : fail(`must be a list of layer indices, got ${JSON.stringify(v)}`),
  ),
  modules_to_save: field.moduleList(),
  // AdapterHub's file fields, and the preset name a config may give.
  name: field.keep(null),
  hidden_size: field.keep(null),
  model_type: field.keep(null),
  config: field.keep(undefined),
  version: field.keep(undefined),
  phm_layer: field.keep(undefined),
  inv_adapter: field.keep(undefined),
  cross_adapter: field.keep(undefined),
  stochastic_depth: field.keep(undefined),
  inv_adapter_reduction_factor: field.keep(undefined),
  model_name: field.keep(undefined),
  model_class: field.keep(undefined),
});

/** Fields Python writes as floats. */
export const BOTTLENECK_FLOAT_FIELDS = BOTTLENECK_FIELDS.floatFields;

const fail: FieldError = BOTTLENECK_FIELDS.fail;
const show = showValue;

/** The preset a raw config names in `config` (a string), default `seq_bn` as AdapterHub's `add_adapter`. */
function preset(raw: Record<string, unknown>): Architecture {
  const c = raw.config;
  if (c == null || typeof c === 'object') return BOTTLENECK_PRESETS.seq_bn;
  if (typeof c !== 'string') fail('config', `must be a preset name or an object, got ${show(c)}`);
  const name = ALIASES[c] ?? c;
  const p = BOTTLENECK_PRESETS[name];
  if (!p)
    fail(
      'config',
      `"${c}" is not a bottleneck preset; use one of ${[...Object.keys(BOTTLENECK_PRESETS), ...Object.keys(ALIASES)].join(', ')}`,
    );
  return p;
}

/**
 * Validates a raw config and fills AdapterHub's defaults. Accepted forms: flat fields, a preset name
 * in `config` (`"double_seq_bn"`/`"houlsby"`, `"seq_bn"`/`"pfeiffer"`, `"par_bn"`/`"parallel"`) with
 * overrides beside it, or the saved file (fields nested in a `config` object). Errors name the field.
 */
export function parseBottleneckConfig(raw: Record<string, unknown>): BottleneckConfig {
  if (raw.peft_type !== undefined && raw.peft_type !== BOTTLENECK_ADAPTER)
    fail('peft_type', `must be "${BOTTLENECK_ADAPTER}", got ${show(raw.peft_type)}`);
  const nested =
    raw.config != null && typeof raw.config === 'object' && !Array.isArray(raw.config) ? (raw.config as Record<string, unknown>) : {};
  const { config: _ignored, ...top } = raw;
  const merged: Record<string, unknown> = { ...preset(raw), ...nested, ...top };
  for (const [k, only] of Object.entries(UNSUPPORTED)) {
    const v = merged[k];
    if (v !== undefined && v !== only) fail(k, `is not supported by @peftjs/adapter (only ${show(only)}), got ${show(v)}`);
  }
  for (const k of [
    'phm_layer',
    'inv_adapter',
    'cross_adapter',
    'stochastic_depth',
    'inv_adapter_reduction_factor',
    'version',
    'model_name',
    'model_class',
  ])
    delete merged[k];
  const c = BOTTLENECK_FIELDS.parse(merged) as BottleneckConfig;
  if (!c.mh_adapter && !c.output_adapter) fail('mh_adapter', 'and output_adapter are both false: the adapter would be placed nowhere');
  return c;
}

/** The bottleneck size at a layer: ⌊hidden / reduction_factor⌋, at least 1 (AdapterHub). */
export function bottleneckSize(c: BottleneckConfig, hidden: number, layer: number): number {
  let rf = c.reduction_factor;
  if (typeof rf === 'object') {
    const v = rf[String(layer)] ?? rf.default;
    if (v === undefined) fail('reduction_factor', `has no entry for layer ${layer} and no "default"`);
    rf = v;
  }
  return Math.max(1, Math.floor(hidden / rf));
}

/** The saved file, as AdapterHub writes adapter_config.json (fields under `config`), plus `peft_type`. */
export function bottleneckConfigToJSON(c: BottleneckConfig): Record<string, unknown> {
  const { peft_type, task_type, modules_to_save, inference_mode, name, hidden_size, model_type, ...arch } = c;
  return {
    config: { ...arch, cross_adapter: false, inv_adapter: null, inv_adapter_reduction_factor: null, phm_layer: false },
    hidden_size,
    model_type,
    name,
    version: '@peftjs/adapter',
    peft_type,
    task_type,
    modules_to_save,
    inference_mode,
  };
}
