// The weight format qlora registers with core's `weightFormats`: bitsandbytes 4-bit folders as
// transformers saves them, and quantize-on-load of float folders.
import * as tf from '@tensorflow/tfjs-core';
import { type LinearLike, type WeightFormat, type WeightFormatContext, type WeightFormatSession } from '@peftjs/core';
import { decodeEntry, entryToTensor, type SafetensorsEntry } from '@peftjs/core/io';
import { BLOCK_SIZES } from './codes.js';
import { entriesToState, findQuantKey, quantStateNames } from './bnb-format.js';
import { parseBnbConfig, parseQuantizeRequest, type BnbConfig } from './config.js';
import { Linear4bit } from './layer.js';
import { quantize4bit, type QuantState4bit } from './math.js';

const DTYPE_OF: Partial<Record<SafetensorsEntry['dtype'], QuantState4bit['dtype']>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Whether transformers would keep the module at `path` in float: `llm_int8_skip_modules` entries match path components. */
export function isSkipped(path: string, skip: readonly string[]): boolean {
  return skip.some((s) => path === s || path.endsWith(`.${s}`) || path.startsWith(`${s}.`) || path.includes(`.${s}.`));
}

function fileOf(ctx: WeightFormatContext, name: string): string {
  return ctx.header.get(name)?.file ?? 'checkpoint';
}

/** Loading a folder saved with bitsandbytes 4-bit: linears with a quant state stay packed. */
class Bnb4bitSession implements WeightFormatSession {
  readonly description: string;
  private readonly keys = new Map<string, string>();

  constructor(
    private readonly ctx: WeightFormatContext,
    config: BnbConfig,
  ) {
    this.description = `bitsandbytes ${config.bnb_4bit_quant_type}${config.bnb_4bit_use_double_quant ? ', double quant' : ''}`;
  }

  claim(path: string, prefix: string, layer: LinearLike): string[] | null {
    const { header } = this.ctx;
    const key = findQuantKey(prefix, header.keys(), fileOf(this.ctx, `${prefix}weight`));
    if (!key) return null;
    const file = fileOf(this.ctx, key);
    const w = header.get(`${prefix}weight`);
    const need = Math.ceil((layer.outFeatures * layer.inFeatures) / 2);
    if (!w) throw new Error(`${file}: missing packed weight "${prefix}weight"`);
    const bytes = w.shape.reduce((a, b) => a * b, 1) * (w.dtype === 'U8' ? 1 : w.dtype === 'F32' ? 4 : 2);
    if (bytes !== need) {
      throw new Error(
        `${w.file}: packed weight "${w.name}" holds ${bytes} bytes, ${path} [${layer.outFeatures}, ${layer.inFeatures}] needs ${need} (truncated or wrong shape)`,
      );
    }
    const names = quantStateNames(prefix, header.has(`${prefix}weight.nested_absmax`), key);
    for (const n of names) if (!header.has(n)) throw new Error(`${file}: missing quant-state tensor "${n}" of ${path}`);
    if (header.has(`${prefix}bias`)) names.push(`${prefix}bias`);
    this.keys.set(path, key);
    return names;
  }

  build(path: string, prefix: string, layer: LinearLike, tensors: Map<string, SafetensorsEntry>): LinearLike {
    const key = this.keys.get(path)!;
    const file = fileOf(this.ctx, key);
    const state = entriesToState(prefix, tensors, key, file);
    if (state.shape[0] !== layer.outFeatures || state.shape[1] !== layer.inFeatures) {
      throw new Error(`${file}: tensor "${key}" says shape [${state.shape}], ${path} is [${layer.outFeatures}, ${layer.inFeatures}]`);
    }
    if (!BLOCK_SIZES.includes(state.blockSize))
      throw new Error(`${file}: tensor "${key}": block size ${state.blockSize} is not one of ${BLOCK_SIZES.join(', ')}`);
    const bias = tensors.get(`${prefix}bias`);
    return new Linear4bit(state, bias ? entryToTensor(bias, file) : undefined);
  }
}

/** Quantizing a float folder's linears while loading, one weight at a time. */
class QuantizeSession implements WeightFormatSession {
  readonly description: string;

  constructor(
    private readonly ctx: WeightFormatContext,
    private readonly opts: { quantType: 'nf4' | 'fp4'; doubleQuant: boolean; blockSize: number; skip: string[] },
  ) {
    this.description = `quantized on load: ${opts.quantType}${opts.doubleQuant ? ', double quant' : ''}, blocks of ${opts.blockSize}`;
  }

  claim(path: string, prefix: string): string[] | null {
    if (this.ctx.outputHeads.includes(path) || isSkipped(path, this.opts.skip)) return null;
    const w = this.ctx.header.get(`${prefix}weight`)!;
    if (!DTYPE_OF[w.dtype]) throw new Error(`${w.file}: tensor "${w.name}" has dtype ${w.dtype}; only float weights can be quantized`);
    return this.ctx.header.has(`${prefix}bias`) ? [`${prefix}weight`, `${prefix}bias`] : [`${prefix}weight`];
  }

  build(path: string, prefix: string, layer: LinearLike, tensors: Map<string, SafetensorsEntry>): LinearLike {
    const w = tensors.get(`${prefix}weight`)!;
    const file = fileOf(this.ctx, w.name);
    if (w.shape.length !== 2 || w.shape[0] !== layer.outFeatures || w.shape[1] !== layer.inFeatures) {
      throw new Error(`${file}: tensor "${w.name}" has shape [${w.shape}], ${path} is [${layer.outFeatures}, ${layer.inFeatures}]`);
    }
    const values = decodeEntry(w, file) as Float32Array;
    const state = quantize4bit(values, w.shape, { ...this.opts, dtype: DTYPE_OF[w.dtype] });
    const bias = tensors.get(`${prefix}bias`);
    return new Linear4bit(state, bias ? tf.tensor1d(decodeEntry(bias, file) as Float32Array) : undefined);
  }
}

/** bitsandbytes' 4-bit format for `loadModel` (registered by `@peftjs/qlora/register`). */
export const bitsandbytes4bit: WeightFormat = {
  name: 'bitsandbytes-4bit',
  open(ctx) {
    if (ctx.quantize) {
      const q = parseQuantizeRequest(ctx.quantize);
      if (!q) return null;
      if (ctx.config.quantization_config) throw new Error(`${ctx.configPath}: the folder is already quantized; load it without "quantize"`);
      return new QuantizeSession(ctx, q);
    }
    const config = parseBnbConfig(ctx.config.quantization_config, ctx.configPath);
    return config ? new Bnb4bitSession(ctx, config) : null;
  },
};
