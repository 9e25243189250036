// bitsandbytes' blockwise quantization in plain float32 arithmetic (every product and quotient rounded
// with Math.fround, as the float32 tensors of its pure-torch backend), so that bytes match exactly.
import { blockScale, midpoints, nearestCode, quantizeBlockwise8bit } from '@peftjs/core';
import { BLOCK_SIZES, DYNAMIC_MAP, FP4_THRESHOLDS, codeTable, type QuantType } from './codes.js';

/** The nested (8-bit) quantization of the block scales. */
export interface NestedState {
  /** float32 [ceil(nblocks / blockSize)] */
  absmax: Float32Array;
  /** float32 [256], the 8-bit dynamic map */
  code: Float32Array;
  blockSize: number;
  /** Mean of the float block scales, added back on dequantization. */
  offset: number;
}

/** A 4-bit weight as bitsandbytes keeps it (`QuantState` + the packed bytes). */
export interface QuantState4bit {
  quantType: QuantType;
  blockSize: number;
  /** The weight's dtype when it was quantized (the JSON's "dtype"). */
  dtype: 'float32' | 'float16' | 'bfloat16';
  /** [out, in] */
  shape: number[];
  /** ceil(n/2) bytes; element 2j in the high nibble of byte j. */
  packed: Uint8Array;
  /** float32 block scales [nblocks], or their uint8 codes with double quantization. */
  absmax: Float32Array | Uint8Array;
  /** The 16-entry table written as `quant_map` (the built-in one for the type when quantizing here). */
  quantMap: Float32Array;
  nested?: NestedState;
}

export interface QuantizeOptions {
  quantType?: QuantType;
  /** default 64 */
  blockSize?: number;
  /** Double quantization of the scales (default true). */
  doubleQuant?: boolean;
  dtype?: QuantState4bit['dtype'];
  /** The 8-bit map for double quantization (default: torch's dump). */
  dynamicMap?: Float32Array;
}

const NF4_BOUNDS = midpoints(codeTable('nf4'));

/** FP4 code of a scaled value: sign bit 8, magnitude by the CUDA tree. */
function fp4Index(x: number): number {
  const t = FP4_THRESHOLDS;
  const a = Math.abs(x);
  const r = a > t[0] ? (a > t[1] ? (a > t[2] ? 3 : 2) : a > t[3] ? 5 : 4) : a > t[4] ? (a > t[5] ? 7 : 6) : a > t[6] ? 1 : 0;
  return r + (x < 0 ? 8 : 0);
}

/** numpy's pairwise float32 sum (`np.add.reduce`), which `absmax.mean()` of the reference uses. */
export function pairwiseSum(a: Float32Array, start = 0, n = a.length): number {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s = Math.fround(s + a[start + i]);
    return s;
  }
  if (n <= 128) {
    const r = Array.from({ length: 8 }, (_, j) => a[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = Math.fround(r[j] + a[start + i + j]);
    const f = Math.fround;
    let s = f(f(f(r[0] + r[1]) + f(r[2] + r[3])) + f(f(r[4] + r[5]) + f(r[6] + r[7])));
    for (; i < n; i++) s = f(s + a[start + i]);
    return s;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return Math.fround(pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2));
}

/**
 * bitsandbytes `quantize_4bit`: blocks over the flattened row-major weight `values` of `shape` [out, in].
 */
export function quantize4bit(values: Float32Array, shape: number[], opts: QuantizeOptions = {}): QuantState4bit {
  const quantType = opts.quantType ?? 'nf4';
  const blockSize = opts.blockSize ?? 64;
  if (quantType !== 'nf4' && quantType !== 'fp4') throw new Error(`quantize4bit: unknown quant type "${String(quantType)}" (nf4 or fp4)`);
  if (!BLOCK_SIZES.includes(blockSize)) throw new Error(`quantize4bit: block size ${blockSize} is not one of ${BLOCK_SIZES.join(', ')}`);
  const n = values.length;
  if (shape.reduce((p, d) => p * d, 1) !== n) throw new Error(`quantize4bit: ${n} values do not fill shape [${shape}]`);
  const { absmax, scaled } = blockScale(values, blockSize);
  const packed = new Uint8Array(Math.ceil(n / 2));
  const index = quantType === 'nf4' ? (x: number) => nearestCode(NF4_BOUNDS, x) : fp4Index;
  for (let j = 0; j < packed.length; j++) {
    const hi = index(scaled[2 * j]);
    const lo = 2 * j + 1 < n ? index(scaled[2 * j + 1]) : index(0); // odd n: a 0.0 pads the low nibble
    packed[j] = (hi << 4) | lo;
  }
  const state: QuantState4bit = {
    quantType,
    blockSize,
    dtype: opts.dtype ?? 'float32',
    shape: [...shape],
    packed,
    absmax,
    quantMap: codeTable(quantType).slice(),
  };
  if (opts.doubleQuant ?? true) {
    const code = opts.dynamicMap ?? DYNAMIC_MAP;
    const offset = Math.fround(pairwiseSum(absmax) / absmax.length);
    const centred = absmax.map((v) => Math.fround(v - offset));
    const { q, absmax: nestedAbsmax } = quantizeBlockwise8bit(centred, code, 256);
    state.absmax = q;
    state.nested = { absmax: nestedAbsmax, code: code.slice(), blockSize: 256, offset };
  }
  return state;
}

/** The float32 block scales [nblocks] (`code8[q]·nested_absmax[b / 256] + offset` with double quantization). */
export function dequantizeAbsmax(state: QuantState4bit): Float32Array {
  const { nested, absmax } = state;
  if (!nested) return Float32Array.from(absmax);
  const out = new Float32Array(absmax.length);
  for (let b = 0; b < absmax.length; b++) {
    const v = Math.fround(nested.code[absmax[b]] * nested.absmax[Math.floor(b / nested.blockSize)]);
    out[b] = Math.fround(v + nested.offset);
  }
  return out;
}

/** bitsandbytes `dequantize_4bit` in float32 (before its cast to `dtype`): code[nibble]·absmax[block], [out·in]. */
export function dequantize4bit(state: QuantState4bit): Float32Array {
  const n = state.shape.reduce((p, d) => p * d, 1);
  const code = codeTable(state.quantType);
  const scales = dequantizeAbsmax(state);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = state.packed[i >> 1];
    out[i] = Math.fround(code[i & 1 ? byte & 15 : byte >> 4] * scales[Math.floor(i / state.blockSize)]);
  }
  return out;
}

/** Stored bits per weight: packed codes, scales (8-bit with double quant) and nested scales. */
export function bitsPerParameter(state: QuantState4bit): number {
  const n = state.shape.reduce((p, d) => p * d, 1);
  let bits = 8 * state.packed.length + state.absmax.length * (state.nested ? 8 : 32);
  if (state.nested) bits += 32 * state.nested.absmax.length;
  return bits / n;
}
