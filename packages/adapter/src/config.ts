import type { PeftConfigBase } from '@peftjs/core';

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

type Architecture = Omit<BottleneckConfig, 'peft_type' | 'task_type' | 'modules_to_save' | 'inference_mode' | 'name' | 'hidden_size' | 'model_type'>;

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
  seq_bn: { ...BN_DEFAULTS, original_ln_before: true, mh_adapter: false, output_adapter: true, non_linearity: 'relu', reduction_factor: 16 },
  /** Houlsby et al. (2019): after attention and after the feed-forward block. */
  double_seq_bn: { ...BN_DEFAULTS, mh_adapter: true, output_adapter: true, non_linearity: 'swish', reduction_factor: 16 },
  /** He et al. (2021): parallel to the feed-forward block, zero-initialised up-projection, scaled by 4. */
  par_bn: { ...BN_DEFAULTS, mh_adapter: false, output_adapter: true, non_linearity: 'relu', reduction_factor: 2, init_weights: 'mam_adapter', is_parallel: true, scaling: 4.0 },
};
const ALIASES: Record<string, string> = { pfeiffer: 'seq_bn', houlsby: 'double_seq_bn', parallel: 'par_bn' };

const NON_LINEARITIES: readonly NonLinearity[] = ['relu', 'swish', 'silu', 'gelu', 'gelu_new', 'tanh', 'leakyrelu', 'sigmoid'];
const INITS: readonly BottleneckInit[] = ['bert', 'houlsby', 'mam_adapter'];
/** Fields of AdapterHub's BnConfig we do not implement, with the only value accepted. */
const UNSUPPORTED: Record<string, unknown> = { use_gating: false, phm_layer: false, inv_adapter: null, cross_adapter: false, stochastic_depth: 0 };

/** Fields Python writes as floats. */
export const BOTTLENECK_FLOAT_FIELDS = ['dropout', 'scaling'] as const;

function fail(field: string, msg: string): never {
  throw new Error(`Bottleneck adapter ${field} ${msg}`);
}

const show = (v: unknown) => JSON.stringify(v) ?? String(v);

/** The preset a raw config names in `config` (a string), default `seq_bn` as AdapterHub's `add_adapter`. */
function preset(raw: Record<string, unknown>): Architecture {
  const c = raw.config;
  if (c == null || typeof c === 'object') return BOTTLENECK_PRESETS.seq_bn;
  if (typeof c !== 'string') fail('config', `must be a preset name or an object, got ${show(c)}`);
  const name = ALIASES[c] ?? c;
  const p = BOTTLENECK_PRESETS[name];
  if (!p) fail('config', `"${c}" is not a bottleneck preset; use one of ${[...Object.keys(BOTTLENECK_PRESETS), ...Object.keys(ALIASES)].join(', ')}`);
  return p;
}

/**
 * Validates a raw config and fills AdapterHub's defaults. Accepted forms: flat fields, a preset name
 * in `config` (`"double_seq_bn"`/`"houlsby"`, `"seq_bn"`/`"pfeiffer"`, `"par_bn"`/`"parallel"`) with
 * overrides beside it, or the saved file (fields nested in a `config` object). Errors name the field.
 */
export function parseBottleneckConfig(raw: Record<string, unknown>): BottleneckConfig {
  if (raw.peft_type !== undefined && raw.peft_type !== BOTTLENECK_ADAPTER) fail('peft_type', `must be "${BOTTLENECK_ADAPTER}", got ${show(raw.peft_type)}`);
  const nested = raw.config != null && typeof raw.config === 'object' && !Array.isArray(raw.config) ? (raw.config as Record<string, unknown>) : {};
  const { config: _ignored, ...top } = raw;
  const merged: Record<string, unknown> = {
    task_type: null,
    modules_to_save: null,
    inference_mode: false,
    name: null,
    hidden_size: null,
    model_type: null,
    ...preset(raw),
    ...nested,
    ...top,
    peft_type: BOTTLENECK_ADAPTER,
  };
  for (const [k, only] of Object.entries(UNSUPPORTED)) {
    const v = merged[k];
    if (v !== undefined && v !== only) fail(k, `is not supported by @peftjs/adapter (only ${show(only)}), got ${show(v)}`);
  }
  for (const k of ['phm_layer', 'inv_adapter', 'cross_adapter', 'stochastic_depth', 'inv_adapter_reduction_factor', 'version', 'model_name', 'model_class']) delete merged[k];
  const c = merged as BottleneckConfig;
  if (c.architecture !== 'bottleneck') fail('architecture', `must be "bottleneck", got ${show(c.architecture)}`);
  for (const f of ['mh_adapter', 'output_adapter', 'original_ln_before', 'original_ln_after', 'adapter_residual_before_ln', 'ln_before', 'ln_after', 'is_parallel', 'inference_mode'] as const) {
    if (typeof c[f] !== 'boolean') fail(f, `must be true or false, got ${show(c[f])}`);
  }
  if (!c.mh_adapter && !c.output_adapter) fail('mh_adapter', 'and output_adapter are both false: the adapter would be placed nowhere');
  const rf = c.reduction_factor;
  const positive = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n > 0;
  if (typeof rf === 'object' && rf !== null && !Array.isArray(rf)) {
    for (const [k, v] of Object.entries(rf)) if (!positive(v)) fail(`reduction_factor["${k}"]`, `must be a positive number, got ${show(v)}`);
  } else if (!positive(rf)) fail('reduction_factor', `must be a positive number or a map of layer → number, got ${show(rf)}`);
  if (!NON_LINEARITIES.includes(c.non_linearity)) fail('non_linearity', `must be one of ${NON_LINEARITIES.join(', ')}, got ${show(c.non_linearity)}`);
  if (!INITS.includes(c.init_weights)) fail('init_weights', `must be one of ${INITS.join(', ')}, got ${show(c.init_weights)}`);
  if (!(c.residual_before_ln === true || c.residual_before_ln === false || c.residual_before_ln === 'post_add')) {
    fail('residual_before_ln', `must be true, false or "post_add", got ${show(c.residual_before_ln)}`);
  }
  if (!(positive(c.scaling) || c.scaling === 'learned' || c.scaling === 'channel')) fail('scaling', `must be a positive number, "learned" or "channel", got ${show(c.scaling)}`);
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) fail('dropout', `must be a number in [0, 1), got ${show(c.dropout)}`);
  if (!Array.isArray(c.leave_out) || !c.leave_out.every((n) => Number.isInteger(n) && n >= 0)) fail('leave_out', `must be a list of layer indices, got ${show(c.leave_out)}`);
  c.leave_out = [...c.leave_out];
  if (c.modules_to_save != null && !(Array.isArray(c.modules_to_save) && c.modules_to_save.every((s) => typeof s === 'string'))) {
    fail('modules_to_save', `must be a list of module names, got ${show(c.modules_to_save)}`);
  }
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
