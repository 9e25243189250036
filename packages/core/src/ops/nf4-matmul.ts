import * as tf from '@tensorflow/tfjs-core';
import { definePeftOp, type PeftOp } from './custom-op.js';

/**
 * Attributes of `PeftNf4MatMul`. The 4-bit weight is W: [outFeatures, inFeatures] (nn.Linear layout).
 */
export interface Nf4MatMulAttrs {
  outFeatures: number;
  inFeatures: number;
  /** Elements per absmax block over the flattened row-major W (bitsandbytes: 64; any of 32…4096). */
  blockSize: number;
  /** true: `absmax` holds 8-bit codes of the block scales (double quantization); false: float32 scales. */
  doubleQuant: boolean;
  /** Absmax codes per nested block (bitsandbytes: 256). Ignored without double quantization. */
  nestedBlockSize: number;
  /** Added to every dequantized block scale (bitsandbytes' `nested_offset`). Ignored without double quantization. */
  offset: number;
  /** false: y = x·Wᵀ, x: [N, in] → [N, out]. true: y = x·W, x: [N, out] → [N, in] (the input gradient). */
  transposed: boolean;
}

export type Nf4MatMulInput = 'x' | 'packed' | 'absmax' | 'code' | 'nestedAbsmax' | 'nestedCode';

/**
 * `PeftNf4MatMul`: a matmul with a blockwise 4-bit weight (bitsandbytes' NF4/FP4 layout), dequantized
 * on the fly. Core knows no code values: the 16-entry table comes in as an input.
 *
 * Element order: W [out, in] is flattened row-major, element i = o·in + k (blocks cross rows).
 *
 * Inputs (tfjs and WGSL have no uint8, so bytes travel packed in int32 words, little-endian):
 * - `x`: float32 [N, in] (or [N, out] when `transposed`).
 * - `packed`: int32 [ceil(out·in / 8)]. The bitsandbytes byte stream b[j] holds element 2j in its HIGH
 *   nibble and element 2j+1 in its LOW nibble; byte j sits in word j >> 2 at bits 8·(j & 3) … 8·(j & 3)+7
 *   (the bytes viewed as a little-endian Int32Array; the tail padded with zero bytes). So the 4-bit code of
 *   element i is `(packed[i >> 3] >>> (8·((i >> 1) & 3) + (i & 1 ? 0 : 4))) & 15`.
 * - `absmax`: without double quant, float32 [nblocks] with nblocks = ceil(out·in / blockSize);
 *   with double quant, int32 [ceil(nblocks / 4)]: uint8 code c[b] of block b in word b >> 2 at bits 8·(b & 3)
 *   (little-endian bytes, as for `packed`).
 * - `code`: float32 [16], the value of each 4-bit code (NF4 or FP4 table).
 * - `nestedAbsmax`: float32 [ceil(nblocks / nestedBlockSize)] with double quant; otherwise any float32
 *   tensor (conventionally [1]), ignored.
 * - `nestedCode`: float32 [256], the 8-bit dynamic map, with double quant; otherwise ignored (conventionally [1]).
 *
 * Dequantization, all in float32 (bitsandbytes' order of operations, so results are bit-identical):
 *   scale[b] = doubleQuant ? nestedCode[c[b]] · nestedAbsmax[b / nestedBlockSize | 0] + offset : absmax[b]
 *   W[i]     = code[nibble(i)] · scale[i / blockSize | 0]
 * Output: float32 [N, out] (or [N, in] when `transposed`).
 *
 * Gradient: with respect to `x` only (the base is frozen), computed by the same op with `transposed`
 * flipped, so a registered kernel also serves the backward pass. The tfjs fallback dequantizes inside the
 * call and keeps no float copy of W alive: under autograd it saves only its inputs and re-dequantizes
 * in the backward pass.
 */
export const nf4MatMul: PeftOp<Nf4MatMulInput, Nf4MatMulAttrs> = definePeftOp<Nf4MatMulInput, Nf4MatMulAttrs>({
  kernelName: 'PeftNf4MatMul',
  inputNames: ['x', 'packed', 'absmax', 'code', 'nestedAbsmax', 'nestedCode'],
  fallback: (inputs, attrs) => {
    const { x, ...quant } = inputs;
    // dx = dy·W needs no saved activation: the quantized inputs are captured, W is rebuilt in the backward pass
    const f = tf.customGrad((xIn) => ({
      value: dequantMatMul(xIn as tf.Tensor, quant, attrs, attrs.transposed),
      gradFunc: (dy: tf.Tensor) => dequantMatMul(dy, quant, attrs, !attrs.transposed),
    }));
    return f(x);
  },
  gradient: (dy, inputs, attrs) => {
    const zero = (t: tf.Tensor) => () => tf.zerosLike(t);
    return {
      x: (): tf.Tensor => nf4MatMul({ ...inputs, x: dy }, { ...attrs, transposed: !attrs.transposed }),
      packed: zero(inputs.packed),
      absmax: zero(inputs.absmax),
      code: zero(inputs.code),
      nestedAbsmax: zero(inputs.nestedAbsmax),
      nestedCode: zero(inputs.nestedCode),
    };
  },
});

type QuantInputs = Omit<Record<Nf4MatMulInput, tf.Tensor>, 'x'>;

function dequantMatMul(x: tf.Tensor, q: QuantInputs, attrs: Nf4MatMulAttrs, transposed: boolean): tf.Tensor {
  return tf.tidy(() => tf.matMul(x, dequantizeNf4(q, attrs), false, !transposed));
}

/**
 * W [out, in] float32 from the op's quantized inputs, with tfjs ops only (exact on every backend: each
 * masked field k·2^s is exactly representable in float32). Used by the fallback and by merges.
 */
export function dequantizeNf4(q: QuantInputs, attrs: Nf4MatMulAttrs): tf.Tensor2D {
  return tf.tidy(() => {
    const { outFeatures, inFeatures, blockSize } = attrs;
    const n = outFeatures * inFeatures;
    const nblocks = Math.ceil(n / blockSize);
    // byte b of a word holds elements 2b (high nibble) and 2b+1 (low): one lookup per byte in a table of
    // the 256 (code[hi], code[lo]) pairs gives both, in element order
    const pairs = tf.stack([tf.gather(q.code, tf.tensor1d(BYTE_HI, 'int32')), tf.gather(q.code, tf.tensor1d(BYTE_LO, 'int32'))], 1); // [256, 2]
    const values = tf.slice(tf.reshape(lookupBytes(q.packed as tf.Tensor1D, pairs), [-1]), 0, n);
    const scales = dequantScales(q, attrs, nblocks);
    const padded = tf.pad(values, [[0, nblocks * blockSize - n]]);
    const w = tf.mul(tf.reshape(padded, [nblocks, blockSize]), tf.reshape(scales, [nblocks, 1]));
    return tf.reshape(tf.slice(tf.reshape(w, [-1]), 0, n), [outFeatures, inFeatures]);
  });
}

/** The block scales [nblocks], float32. */
function dequantScales(q: QuantInputs, attrs: Nf4MatMulAttrs, nblocks: number): tf.Tensor1D {
  if (!attrs.doubleQuant) return tf.reshape(q.absmax, [nblocks]);
  const nbs = attrs.nestedBlockSize;
  const nested = Math.ceil(nblocks / nbs);
  const vals = tf.pad(tf.slice(tf.reshape(lookupBytes(q.absmax as tf.Tensor1D, tf.reshape(q.nestedCode, [256, 1])), [-1]), 0, nblocks), [
    [0, nested * nbs - nblocks],
  ]);
  const scaled = tf.mul(tf.reshape(vals, [nested, nbs]), tf.reshape(q.nestedAbsmax, [nested, 1]));
  return tf.add(tf.slice(tf.reshape(scaled, [-1]), 0, nblocks), tf.scalar(attrs.offset));
}

const BYTE_HI = Int32Array.from({ length: 256 }, (_, b) => b >> 4);
const BYTE_LO = Int32Array.from({ length: 256 }, (_, b) => b & 15);

/**
 * table[byte] for the 4 bytes of each int32 word (little-endian order): [words·4, ...rowShape].
 * Each byte is masked out and scaled down in float32 (exact: k·2^s has few significant bits); the top
 * byte comes out signed, so it indexes the table rotated by 128 rows.
 */
function lookupBytes(words: tf.Tensor1D, table: tf.Tensor): tf.Tensor {
  const rotated = tf.concat([tf.slice(table, 128, 128), tf.slice(table, 0, 128)], 0);
  const fields = [0, 8, 16, 24].map((s) => {
    const mask = tf.fill(words.shape, (255 << s) | 0, 'int32'); // bitwiseAnd does not broadcast
    const k = tf.mul(tf.cast(tf.bitwiseAnd(words, mask), 'float32'), 2 ** -s);
    return s === 24 ? tf.gather(rotated, tf.cast(tf.add(k, 128), 'int32')) : tf.gather(table, tf.cast(k, 'int32'));
  });
  return tf.stack(fields, 1);
}

/** Bytes viewed as little-endian int32 words (tail zero-padded): the packing `PeftNf4MatMul` expects. */
export function bytesToInt32Words(bytes: Uint8Array): Int32Array {
  const words = new Int32Array(Math.ceil(bytes.length / 4));
  const view = new Uint8Array(words.buffer);
  view.set(bytes);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    for (let w = 0; w < words.length; w++) {
      const o = 4 * w;
      words[w] = view[o] | (view[o + 1] << 8) | (view[o + 2] << 16) | (view[o + 3] << 24);
    }
  }
  return words;
}
