import * as tf from '@tensorflow/tfjs-core';
import { LinearLike, bytesToInt32Words, dequantizeNf4, linear, nf4MatMul, type Nf4MatMulAttrs } from '@peftjs/core';
import { codeTable } from './codes.js';
import { quantize4bit, type QuantState4bit } from './math.js';

/** The op's quantized inputs of one layer (tensors owned by the layer). */
interface PackedTensors {
  /** int32 [ceil(n/8)] */
  packed: tf.Tensor1D;
  /** float32 [nblocks], or int32 [ceil(nblocks/4)] of uint8 codes with double quantization */
  absmax: tf.Tensor1D;
  /** float32 [16]: the built-in table of the quant type */
  code: tf.Tensor1D;
  /** float32 [ceil(nblocks/256)] (or [1] unused) */
  nestedAbsmax: tf.Tensor1D;
  /** float32 [256] (or [1] unused) */
  nestedCode: tf.Tensor1D;
}

/** What a 4-bit layer keeps besides its tensors, to write bitsandbytes' files back unchanged. */
export type Linear4bitMeta = Pick<QuantState4bit, 'quantType' | 'blockSize' | 'dtype' | 'quantMap'> & {
  bytes: number;
  absmaxCount: number;
};

/**
 * bitsandbytes' `Linear4bit`: a frozen `nn.Linear` whose weight [out, in] is stored as 4-bit codes with
 * blockwise scales (optionally double-quantized), computed through core's `PeftNf4MatMul` op. Hooks
 * (LoRA) run around it as on any linear; `toFloat()` turns it into a float linear for merging.
 */
export class Linear4bit extends LinearLike {
  readonly layout = 'linear' as const;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly meta: Linear4bitMeta;
  private quant: PackedTensors | null;
  private readonly attrs: Nf4MatMulAttrs;

  /** Takes the state's arrays and `bias` [out] (owned from now on). */
  constructor(state: QuantState4bit, bias?: tf.Tensor) {
    super();
    const [out, inF] = state.shape;
    this.outFeatures = out;
    this.inFeatures = inF;
    const nested = state.nested;
    this.meta = {
      quantType: state.quantType,
      blockSize: state.blockSize,
      dtype: state.dtype,
      quantMap: state.quantMap,
      bytes: state.packed.length,
      absmaxCount: state.absmax.length,
    };
    this.attrs = {
      outFeatures: out,
      inFeatures: inF,
      blockSize: state.blockSize,
      doubleQuant: nested !== undefined,
      nestedBlockSize: nested?.blockSize ?? 256,
      offset: nested?.offset ?? 0,
      transposed: false,
    };
    this.quant = tf.tidy(() => ({
      packed: tf.tensor1d(bytesToInt32Words(state.packed), 'int32'),
      absmax: nested ? tf.tensor1d(bytesToInt32Words(state.absmax as Uint8Array), 'int32') : tf.tensor1d(state.absmax as Float32Array),
      code: tf.tensor1d(codeTable(state.quantType)),
      nestedAbsmax: tf.tensor1d(nested?.absmax ?? new Float32Array(1)),
      nestedCode: tf.tensor1d(nested?.code ?? new Float32Array(1)),
    }));
    if (bias) this.registerParameter('bias', bias, false);
  }

  /** Whether the weight is still 4-bit (false after `toFloat`). */
  get quantized(): boolean {
    return this.quant !== null;
  }

  /** Whether the block scales are double-quantized. */
  get doubleQuant(): boolean {
    return this.attrs.doubleQuant;
  }

  override get fusable(): boolean {
    return !this.quantized;
  }

  override get weight(): tf.Variable {
    const w = this.parameter('weight');
    if (!w)
      throw new Error(
        `Linear4bit [${this.outFeatures}, ${this.inFeatures}] has no float weight: call toFloat() (or qlora's dequantizeModel) first`,
      );
    return w;
  }

  /** y = x·Wᵀ + b over the last axis. x: [..., in] → [..., out]. */
  baseForward(x: tf.Tensor): tf.Tensor {
    if (!this.quant) return linear(x, this.weight, this.bias);
    const q = this.quant;
    return tf.tidy(() => {
      const x2 = tf.reshape(x, [-1, this.inFeatures]);
      let y = nf4MatMul({ x: x2, ...q }, this.attrs);
      if (this.bias) y = tf.add(y, this.bias);
      return tf.reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }

  /** The dequantized weight [out, in], float32 (bitsandbytes' values before any cast to `dtype`). */
  dequantize(): tf.Tensor2D {
    if (!this.quant) return tf.clone(this.weight) as tf.Tensor2D;
    return dequantizeNf4(this.quant, this.attrs);
  }

  /** Replaces the 4-bit weight by its float32 dequantization (a frozen `weight` parameter). */
  toFloat(): void {
    if (!this.quant) return;
    this.registerParameter('weight', this.dequantize(), false);
    tf.dispose(Object.values(this.quant));
    this.quant = null;
  }

  /**
   * Quantizes the float weight again (after `toFloat` and a merge), with the layer's quant type, block
   * size and double quantization, as bitsandbytes' `Params4bit(W)` does. Returns max |W_float − W_4bit|.
   */
  requantize(): number {
    const w = this.parameter('weight');
    if (!w) return 0;
    const values = w.dataSync() as Float32Array;
    const state = quantize4bit(values, [this.outFeatures, this.inFeatures], {
      quantType: this.meta.quantType,
      blockSize: this.meta.blockSize,
      doubleQuant: this.attrs.doubleQuant,
      dtype: this.meta.dtype,
    });
    const fresh = new Linear4bit(state);
    this.quant = fresh.quant;
    Object.assign(this.attrs, fresh.attrs);
    fresh.quant = null;
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(w, this.dequantize()))).dataSync()[0]);
    this.deleteParameter('weight');
    return err;
  }

  /** The bitsandbytes state, read back from the tensors (for writing files). */
  state(): QuantState4bit {
    if (!this.quant) throw new Error('Linear4bit.state(): the layer was turned to float');
    const q = this.quant;
    const bytesOf = (t: tf.Tensor, n: number) => new Uint8Array((t.dataSync() as Int32Array).slice().buffer, 0, n);
    const s: QuantState4bit = {
      quantType: this.meta.quantType,
      blockSize: this.meta.blockSize,
      dtype: this.meta.dtype,
      shape: [this.outFeatures, this.inFeatures],
      packed: bytesOf(q.packed, this.meta.bytes),
      absmax: this.attrs.doubleQuant ? bytesOf(q.absmax, this.meta.absmaxCount) : Float32Array.from(q.absmax.dataSync()),
      quantMap: this.meta.quantMap,
    };
    if (this.attrs.doubleQuant) {
      s.nested = {
        absmax: Float32Array.from(q.nestedAbsmax.dataSync()),
        code: Float32Array.from(q.nestedCode.dataSync()),
        blockSize: this.attrs.nestedBlockSize,
        offset: this.attrs.offset,
      };
    }
    return s;
  }

  /** Bytes the quantized weight takes in memory (codes + scales + nested scales, without the tables). */
  get quantizedBytes(): number {
    if (!this.quant) return 0;
    return this.quant.packed.size * 4 + this.quant.absmax.size * 4 + (this.attrs.doubleQuant ? this.quant.nestedAbsmax.size * 4 : 0);
  }

  protected override disposeBuffers(): void {
    if (this.quant) tf.dispose(Object.values(this.quant));
    this.quant = null;
  }
}
