import * as tf from '@tensorflow/tfjs-core';
import { Module, dropout, loraMatMul, type HookContext, type LinearHook, type LinearLike, type Rng } from '@peftjs/core';
import { adaLoraDelta, adaLoraPath, adaLoraScale } from './math.js';

export interface AdaLoraLayerOptions {
  /** The rank of the tensors made here (init_r, or fewer when loading a pruned adapter). */
  r: number;
  /** The rank the module was created with (`init_r`): the scale's denominator. */
  rankNum: number;
  loraAlpha: number;
  dropout: number;
  /** PEFT's init (E = 0, A and B ~ N(0, 0.02)); false: all three ~ N(0, 1), as PEFT leaves `torch.randn`. */
  init: boolean;
  rng: Rng;
}

/**
 * AdaLoRA on one `Linear` or GPT-2 `Conv1D`: h = base(x) + (x·(A⊙E)ᵀ·Bᵀ)·α/(ranknum + 1e-5).
 * Parameters are named as PEFT's (`lora_A`, `lora_E`, `lora_B`, no `.weight`).
 */
export class AdaLoraHook implements LinearHook {
  readonly params = new Module();
  /** The rank the module was created with; stays `init_r` when fewer ranks are loaded (PEFT's `ranknum`). */
  readonly rankNum: number;
  readonly loraAlpha: number;

  constructor(
    readonly layer: LinearLike,
    private readonly opts: AdaLoraLayerOptions,
  ) {
    if (layer.layout === 'embedding') throw new Error('AdaLoRA supports Linear and Conv1D layers, not Embedding');
    const { r, rng, init } = opts;
    this.rankNum = opts.rankNum;
    this.loraAlpha = opts.loraAlpha;
    const inF = layer.inFeatures;
    const outF = layer.outFeatures;
    // A (right singular vectors): [r, in]   E (singular values): [r, 1]   B (left singular vectors): [out, r]
    this.params.registerParameter('lora_A', init ? rng.normalTensor([r, inF], 0, 0.02) : rng.normalTensor([r, inF]));
    this.params.registerParameter('lora_E', init ? tf.zeros([r, 1]) : rng.normalTensor([r, 1]));
    this.params.registerParameter('lora_B', init ? rng.normalTensor([outF, r], 0, 0.02) : rng.normalTensor([outF, r]));
  }

  get loraA(): tf.Variable {
    return this.params.parameter('lora_A')!;
  }

  get loraE(): tf.Variable {
    return this.params.parameter('lora_E')!;
  }

  get loraB(): tf.Variable {
    return this.params.parameter('lora_B')!;
  }

  /** The rank of the tensors (fewer than `rankNum` for a pruned adapter). */
  get r(): number {
    return this.loraA.shape[0];
  }

  /** α / (ranknum + 1e-5). */
  get scale(): number {
    return adaLoraScale(this.loraAlpha, this.rankNum);
  }

  forward(x: tf.Tensor, next: (x: tf.Tensor) => tf.Tensor, ctx: HookContext): tf.Tensor {
    return tf.tidy(() => {
      const base = next(x);
      if (this.r === 0) return base;
      const xd = ctx.training && this.opts.dropout > 0 ? dropout(x, this.opts.dropout, this.opts.rng) : x;
      return tf.add(base, adaLoraPath(xd, this.loraA, this.loraE, this.loraB, this.scale));
    });
  }

  /** One `PeftLoraMatMul` with A⊙E as the down projection when nothing else runs on the layer. */
  fused(x: tf.Tensor, _layer: Module, ctx: HookContext): tf.Tensor | null {
    if (this.layer.layout !== 'linear' || this.r === 0 || (ctx.training && this.opts.dropout > 0)) return null;
    return tf.tidy(() => {
      const inF = x.shape[x.rank - 1];
      const loraA = tf.mul(this.loraA, this.loraE);
      let y = loraMatMul({ x: tf.reshape(x, [-1, inF]), weight: this.layer.weight, loraA, loraB: this.loraB }, { scaling: this.scale });
      if (this.layer.bias) y = tf.add(y, this.layer.bias);
      return tf.reshape(y, [...x.shape.slice(0, -1), this.layer.outFeatures]);
    });
  }

  /** ΔW = B·(A⊙E)·α/(ranknum + 1e-5) in the layer's layout ([out, in]; [in, out] for Conv1D). */
  deltaWeight(): tf.Tensor {
    if (this.r === 0) return tf.zerosLike(this.layer.weight);
    return adaLoraDelta(this.loraA, this.loraE, this.loraB, this.scale, this.layer.layout === 'conv1d');
  }
}
