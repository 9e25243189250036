// 4-bit bases in the CLI (QLoRA): `--quantize nf4|fp4 [--double-quant false]` on `train`, bitsandbytes
// 4-bit folders read by every command, quantization shown by `inspect`, merged to float by `merge`.
import '@peftjs/qlora/register';
import * as tf from '@tensorflow/tfjs-core';
import type { Module, QuantizeRequest } from '@peftjs/core';
import { bitsPerParameter, dequantizeModel, linear4bitModules } from '@peftjs/qlora';
import type { FlagSpec } from './args.js';

export const QUANTIZE_FLAGS = [
  { name: 'quantize', type: 'string', description: 'load the base in 4 bits (QLoRA, bitsandbytes blocks of 64)', choices: ['nf4', 'fp4'] },
  {
    name: 'double-quant',
    type: 'string',
    description: 'with --quantize: double-quantize the block scales (4.127 bits/param)',
    default: 'true',
    choices: ['true', 'false'],
  },
] as const satisfies readonly FlagSpec[];

/** The loadModel `quantize` option of `--quantize` / `--double-quant` (their values are checked with the flags). */
export function quantizeOption(f: { quantize?: 'nf4' | 'fp4'; doubleQuant?: 'true' | 'false' }): QuantizeRequest | undefined {
  return f.quantize === undefined ? undefined : { type: f.quantize, doubleQuant: f.doubleQuant !== 'false' };
}

export interface QuantizationSummary {
  /** e.g. "nf4, double quant, blocks of 64" */
  scheme: string;
  linears: number;
  /** Stored bits per weight of the 4-bit linears (codes + scales). */
  bitsPerParam: number;
  /** In memory: 4-bit linears, the rest of the parameters (float32), all tfjs tensors. */
  linearBytes: number;
  floatBytes: number;
  tfjsBytes: number;
}

/** What a model's 4-bit linears take; null when it has none. */
export function quantizationSummary(model: Module): QuantizationSummary | null {
  const layers = linear4bitModules(model);
  if (layers.length === 0) return null;
  let weights = 0;
  let bits = 0;
  for (const [, l] of layers) {
    const n = l.inFeatures * l.outFeatures;
    weights += n;
    bits += bitsPerParameter(l.state()) * n;
  }
  const m = layers[0][1].meta;
  return {
    scheme: `${m.quantType}${layers[0][1].doubleQuant ? ', double quant' : ''}, blocks of ${m.blockSize}`,
    linears: layers.length,
    bitsPerParam: bits / weights,
    linearBytes: layers.reduce((a, [, l]) => a + l.quantizedBytes, 0),
    floatBytes: model.namedParameters().reduce((a, [, v]) => a + 4 * v.size, 0),
    tfjsBytes: tf.memory().numBytes,
  };
}

/** `merge` on a 4-bit base: its linears become float32 (dequantized) so that the merged folder is a float one. */
export function dequantizeForMerge(model: Module): number {
  return dequantizeModel(model);
}

/** The `inspect` line of a 4-bit base. */
export function describeQuantization(q: QuantizationSummary): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  return `  quantization: bitsandbytes 4-bit (${q.scheme}) on ${q.linears} linears, ${q.bitsPerParam.toFixed(3)} bits/param; memory: 4-bit linears ${mib(q.linearBytes)}, float32 parameters ${mib(q.floatBytes)}, all tensors ${mib(q.tfjsBytes)}`;
}
