import * as tf from '@tensorflow/tfjs-core';
import { type Module } from '@peftjs/core';
import { writeJsonAtomic, writeSafetensorsFile, type TensorSource } from '@peftjs/core/io';
import { stateToEntries } from './bnb-format.js';
import { CONFIG_FLOAT_KEYS, bnbConfigFor } from './config.js';
import { Linear4bit } from './layer.js';

const FLOAT_DTYPES: Record<string, 'F32' | 'F16' | 'BF16'> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };

/** The 4-bit linears of a model, by path. */
export function linear4bitModules(model: Module): Array<[string, Linear4bit]> {
  return model.namedModules().filter((e): e is [string, Linear4bit] => e[1] instanceof Linear4bit && e[1].quantized);
}

/**
 * The tensors transformers writes for a model whose linears are bitsandbytes 4-bit: each 4-bit linear's
 * packed weight and quant state (`Linear4bit._save_to_state_dict`), every other parameter as a float
 * (written in the folder's `torch_dtype`).
 */
export function quantizedStateDict(model: Module): Map<string, TensorSource> {
  const out = new Map<string, TensorSource>();
  const covered = new Set<tf.Variable>();
  for (const [path, layer] of linear4bitModules(model)) {
    const bias = layer.bias;
    if (bias) covered.add(bias);
    for (const e of stateToEntries(`${path}.`, layer.state())) {
      if (e.name === `${path}.bias`) continue;
      const data = e.dtype === 'U8' ? e.bytes : new Float32Array(e.bytes.buffer, e.bytes.byteOffset, e.bytes.length / 4);
      out.set(e.name, { dtype: e.dtype, shape: e.shape, data });
    }
    if (bias) out.set(`${path}.bias`, bias);
  }
  for (const [name, v] of model.namedParameters()) if (!covered.has(v)) out.set(name, v);
  return out;
}

/**
 * Writes a model with 4-bit linears as transformers + bitsandbytes save it: `model.safetensors` in the
 * bitsandbytes layout and `config.json` with its `quantization_config` (kept from `config` when it has
 * one, else transformers' `BitsAndBytesConfig.to_dict()` for the layers' quant type). Each file is
 * written atomically.
 */
export async function saveQuantizedModel(model: Module, dir: string, config: Record<string, unknown>): Promise<void> {
  const layers = linear4bitModules(model);
  if (layers.length === 0) throw new Error('saveQuantizedModel: the model has no 4-bit linears');
  const dtype = typeof config.torch_dtype === 'string' ? config.torch_dtype : 'float32';
  const floatDtype = FLOAT_DTYPES[dtype];
  if (!floatDtype) throw new Error(`saveQuantizedModel: torch_dtype "${dtype}" is not float32, float16 or bfloat16`);
  const first = layers[0][1];
  const quantization_config =
    config.quantization_config ?? bnbConfigFor({ quantType: first.meta.quantType, doubleQuant: first.doubleQuant, computeDtype: dtype });
  const tensors = quantizedStateDict(model);
  await writeSafetensorsFile(`${dir}/model.safetensors`, tensors, { metadata: { format: 'pt' }, floatDtype });
  await writeJsonAtomic(
    `${dir}/config.json`,
    { ...config, quantization_config, torch_dtype: dtype },
    { trailingNewline: true, floatKeys: CONFIG_FLOAT_KEYS },
  );
}

/**
 * Writes a float model (e.g. after `mergeToFloat`) as a normal Hugging Face folder: `model.safetensors` in
 * `dtype` and `config.json` without `quantization_config`. A model that still has 4-bit linears is refused.
 */
export async function saveFloatModel(
  model: Module,
  dir: string,
  config: Record<string, unknown>,
  dtype: 'float32' | 'float16' | 'bfloat16' = 'float32',
): Promise<void> {
  const left = linear4bitModules(model).map(([p]) => p);
  if (left.length)
    throw new Error(
      `saveFloatModel: ${left.length} linear(s) are still 4-bit (${left.slice(0, 3).join(', ')}…): dequantize or merge to float first`,
    );
  if (!FLOAT_DTYPES[dtype]) throw new Error(`saveFloatModel: dtype "${String(dtype)}" is not float32, float16 or bfloat16`);
  const { quantization_config: _dropped, ...rest } = config;
  await writeSafetensorsFile(`${dir}/model.safetensors`, new Map(model.namedParameters()), {
    metadata: { format: 'pt' },
    floatDtype: FLOAT_DTYPES[dtype],
  });
  await writeJsonAtomic(`${dir}/config.json`, { ...rest, torch_dtype: dtype }, { trailingNewline: true, floatKeys: CONFIG_FLOAT_KEYS });
}
