import type { QuantizeRequest } from '@peftjs/core';
import { BLOCK_SIZES, type QuantType } from './codes.js';

/** transformers' `BitsAndBytesConfig.to_dict()` for 4-bit, as config.json's `quantization_config` holds it. */
export interface BnbConfig {
  quant_method: 'bitsandbytes';
  _load_in_4bit?: boolean;
  _load_in_8bit?: boolean;
  load_in_4bit: boolean;
  load_in_8bit: boolean;
  bnb_4bit_quant_type: QuantType;
  bnb_4bit_use_double_quant: boolean;
  bnb_4bit_compute_dtype: string;
  bnb_4bit_quant_storage?: string;
  llm_int8_skip_modules: string[] | null;
  llm_int8_threshold: number;
  llm_int8_enable_fp32_cpu_offload: boolean;
  llm_int8_has_fp16_weight: boolean;
  [other: string]: unknown;
}

/** Fields Python holds as floats (written `6.0`, not `6`) in config.json. */
export const CONFIG_FLOAT_KEYS = [
  'llm_int8_threshold',
  'attention_dropout',
  'rope_theta',
  'rms_norm_eps',
  'initializer_range',
  'layer_norm_eps',
  'layer_norm_epsilon',
  'resid_pdrop',
  'embd_pdrop',
  'attn_pdrop',
  'summary_first_dropout',
  'hidden_dropout_prob',
  'attention_probs_dropout_prob',
  'partial_rotary_factor',
  'factor',
];

/** The `quantization_config` of a bitsandbytes 4-bit folder (null when there is none); anything else is an error. */
export function parseBnbConfig(raw: unknown, where: string): BnbConfig | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: quantization_config must be an object`);
  const c = raw as Record<string, unknown>;
  if (c.quant_method !== 'bitsandbytes') return null;
  if (c.load_in_8bit === true) throw new Error(`${where}: bitsandbytes 8-bit (LLM.int8) checkpoints are not supported; only load_in_4bit`);
  if (c.load_in_4bit !== true) throw new Error(`${where}: quantization_config has quant_method "bitsandbytes" but not load_in_4bit`);
  const type = c.bnb_4bit_quant_type ?? 'fp4';
  if (type !== 'nf4' && type !== 'fp4') throw new Error(`${where}: unknown bnb_4bit_quant_type ${JSON.stringify(type)} (nf4 or fp4)`);
  const skip = c.llm_int8_skip_modules ?? null;
  if (skip !== null && (!Array.isArray(skip) || !skip.every((s) => typeof s === 'string'))) {
    throw new Error(`${where}: llm_int8_skip_modules must be null or a list of module names`);
  }
  return { ...c, bnb_4bit_quant_type: type, llm_int8_skip_modules: skip } as BnbConfig;
}

/** transformers' `BitsAndBytesConfig(load_in_4bit=True, …).to_dict()` for a model quantized here. */
export function bnbConfigFor(opts: {
  quantType: QuantType;
  doubleQuant: boolean;
  computeDtype?: string;
  skipModules?: string[] | null;
}): BnbConfig {
  return {
    _load_in_4bit: true,
    _load_in_8bit: false,
    bnb_4bit_compute_dtype: opts.computeDtype ?? 'float32',
    bnb_4bit_quant_storage: 'uint8',
    bnb_4bit_quant_type: opts.quantType,
    bnb_4bit_use_double_quant: opts.doubleQuant,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
    llm_int8_skip_modules: opts.skipModules ?? null,
    llm_int8_threshold: 6.0,
    load_in_4bit: true,
    load_in_8bit: false,
    quant_method: 'bitsandbytes',
  };
}

export interface QuantizeOnLoad {
  quantType: QuantType;
  doubleQuant: boolean;
  blockSize: number;
  /** Linears kept in float besides the output heads (transformers' `llm_int8_skip_modules`). */
  skip: string[];
}

/** `loadModel(dir, { quantize: { type: 'nf4' | 'fp4', doubleQuant?, blockSize?, skipModules? } })`; null for other types. */
export function parseQuantizeRequest(q: QuantizeRequest): QuantizeOnLoad | null {
  if (q.type !== 'nf4' && q.type !== 'fp4') return null;
  const known = ['type', 'doubleQuant', 'blockSize', 'skipModules'];
  const extra = Object.keys(q).filter((k) => !known.includes(k));
  if (extra.length) throw new Error(`quantize: unknown option(s) ${extra.join(', ')} (known: ${known.join(', ')})`);
  const blockSize = q.blockSize ?? 64;
  if (typeof blockSize !== 'number' || !BLOCK_SIZES.includes(blockSize))
    throw new Error(`quantize.blockSize must be one of ${BLOCK_SIZES.join(', ')}, got ${JSON.stringify(blockSize)}`);
  if (q.doubleQuant !== undefined && typeof q.doubleQuant !== 'boolean') throw new Error(`quantize.doubleQuant must be true or false`);
  const skip = q.skipModules ?? [];
  if (!Array.isArray(skip) || !skip.every((s) => typeof s === 'string'))
    throw new Error('quantize.skipModules must be a list of module names');
  return { quantType: q.type, doubleQuant: q.doubleQuant ?? true, blockSize, skip: skip as string[] };
}
