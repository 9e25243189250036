import * as tf from '@tensorflow/tfjs-core';
import { Module, dropout, kaimingUniform, loraMatMul, type HookContext, type LinearHook, type LinearLike, type Rng } from '@peftjs/core';
import type { LoraInit } from './config.js';
import { loraDelta, loraEmbeddingDelta, loraEmbeddingPath, loraPath } from './math.js';

export interface LoraLayerOptions {
  r: number;
  scaling: number;
  dropout: number;
  init: LoraInit;
  loraBias: boolean;
  rng: Rng;
}

/**
 * LoRA on one linear-like layer (`Linear`, GPT-2 `Conv1D`, `Embedding`):
 * h = base(x) + s·B·A·dropout(x). Its parameters use PEFT's names (`lora_A.weight`,
 * `lora_B.weight`, `lora_B.bias`; `lora_embedding_A`/`lora_embedding_B` for embeddings).
 */
export class LoraHook implements LinearHook {
  readonly params = new Module();
  readonly r: number;
  scaling: number;
  readonly isEmbedding: boolean;

  constructor(
    readonly layer: LinearLike,
    private readonly opts: LoraLayerOptions,
  ) {
    const { r, rng, init } = opts;
    this.r = r;
    this.scaling = opts.scaling;
    this.isEmbedding = layer.layout === 'embedding';
    const inF = layer.inFeatures;
    const outF = layer.outFeatures;
    if (this.isEmbedding) {
      // A: [r, num]   B: [dim, r]
      const a = init === false ? rng.normalTensor([r, inF]) : tf.zeros([r, inF]);
      const b = rng.normalTensor([outF, r]);
      this.params.registerParameter('lora_embedding_A', a);
      this.params.registerParameter('lora_embedding_B', b);
    } else {
      // A: [r, in]   B: [out, r]
      const a = init === 'gaussian' ? rng.normalTensor([r, inF], 0, 1 / r) : kaimingUniform([r, inF], Math.sqrt(5), rng);
      const b = init === false ? kaimingUniform([outF, r], Math.sqrt(5), rng) : tf.zeros([outF, r]);
      this.params.registerModule('lora_A', new Module()).registerParameter('weight', a);
      const loraB = this.params.registerModule('lora_B', new Module());
      loraB.registerParameter('weight', b);
      if (opts.loraBias) loraB.registerParameter('bias', tf.zeros([outF]));
    }
  }

  /** A: [r, in] (or [r, num] for embeddings). */
  get loraA(): tf.Variable {
    return this.isEmbedding ? this.params.parameter('lora_embedding_A')! : this.params.child('lora_A')!.parameter('weight')!;
  }

  /** B: [out, r] (or [dim, r] for embeddings). */
  get loraB(): tf.Variable {
    return this.isEmbedding ? this.params.parameter('lora_embedding_B')! : this.params.child('lora_B')!.parameter('weight')!;
  }

  get loraBBias(): tf.Variable | undefined {
    return this.isEmbedding ? undefined : this.params.child('lora_B')!.parameter('bias');
  }

  forward(x: tf.Tensor, next: (x: tf.Tensor) => tf.Tensor, ctx: HookContext): tf.Tensor {
    return tf.tidy(() => {
      const base = next(x);
      if (this.isEmbedding) return tf.add(base, loraEmbeddingPath(x, this.loraA, this.loraB, this.scaling));
      const xd = ctx.training && this.opts.dropout > 0 ? dropout(x, this.opts.dropout, this.opts.rng) : x;
      return tf.add(base, loraPath(xd, this.loraA, this.loraB, this.scaling, this.loraBBias));
    });
  }

  /** One `PeftLoraMatMul` for the whole layer when nothing else runs on it (no dropout, no lora bias). */
  fused(x: tf.Tensor, _layer: Module, ctx: HookContext): tf.Tensor | null {
    if (this.layer.layout !== 'linear' || this.loraBBias || (ctx.training && this.opts.dropout > 0)) return null;
    return tf.tidy(() => {
      const inF = x.shape[x.rank - 1];
      let y = loraMatMul(
        { x: tf.reshape(x, [-1, inF]), weight: this.layer.weight, loraA: this.loraA, loraB: this.loraB },
        { scaling: this.scaling },
      );
      if (this.layer.bias) y = tf.add(y, this.layer.bias);
      return tf.reshape(y, [...x.shape.slice(0, -1), this.layer.outFeatures]);
    });
  }

  /** ΔW in the layer's own layout: [out, in] for Linear, [in, out] for Conv1D, [num, dim] for Embedding. */
  deltaWeight(): tf.Tensor {
    if (this.isEmbedding) return loraEmbeddingDelta(this.loraA, this.loraB, this.scaling);
    return loraDelta(this.loraA, this.loraB, this.scaling, this.layer.layout === 'conv1d');
  }

  deltaBias(): tf.Tensor | undefined {
    const b = this.loraBBias;
    return b ? tf.mul(b, this.scaling) : undefined;
  }
}
