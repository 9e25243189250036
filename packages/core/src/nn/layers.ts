import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { SiteSlot } from '../sites.js';
import { getGlobalRng, kaimingUniform, type Rng } from '../random.js';
import { rmsNorm } from '../ops/rms-norm.js';

/** Which weight layout a linear-like layer keeps (Hugging Face's, unchanged). */
export type LinearLayout =
  /** `nn.Linear`: weight [out, in]. */
  | 'linear'
  /** GPT-2 `Conv1D`: weight [in, out]. */
  | 'conv1d'
  /** `nn.Embedding`: weight [num, dim]; "in" is the vocabulary, "out" the embedding size. */
  | 'embedding';

/**
 * A layer a `linear` site can wrap: it keeps its base computation callable as `baseForward`
 * and runs the active adapters' hooks around it in `forward`.
 */
export abstract class LinearLike extends Module {
  readonly peft: SiteSlot<'linear'> = new SiteSlot('linear', { path: '' }, this);
  abstract readonly layout: LinearLayout;
  abstract readonly inFeatures: number;
  abstract readonly outFeatures: number;

  get weight(): tf.Variable {
    return this.parameter('weight')!;
  }

  get bias(): tf.Variable | undefined {
    return this.parameter('bias');
  }

  /** Whether a hook may run the layer as one fused kernel on its float `weight` (false for a quantized layer). */
  get fusable(): boolean {
    return true;
  }

  /** The layer without any adapter. */
  abstract baseForward(x: tf.Tensor): tf.Tensor;

  forward(x: tf.Tensor): tf.Tensor {
    const hooks = this.peft.activeHooks();
    if (hooks.length === 0) return this.baseForward(x);
    const ctx = this.peft.context;
    if (hooks.length === 1 && hooks[0].fused && this.fusable) {
      const y = hooks[0].fused(x, this, ctx);
      if (y) return y;
    }
    let f = (t: tf.Tensor) => this.baseForward(t);
    for (const h of hooks) {
      const next = f;
      f = (t: tf.Tensor) => h.forward(t, next, ctx);
    }
    return f(x);
  }
}

/** y = x·Wᵀ + b over the last axis. x: [..., in], W: [out, in], y: [..., out]. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inF = x.shape[x.rank - 1];
    const x2 = tf.reshape(x, [-1, inF]);
    let y = tf.matMul(x2, weight, false, true);
    if (bias) y = tf.add(y, bias);
    return tf.reshape(y, [...x.shape.slice(0, -1), weight.shape[0]]);
  });
}

export interface LinearOptions {
  bias?: boolean;
  rng?: Rng;
}

/** `nn.Linear` with weight [out, in] and optional bias [out]; initialised as torch does. */
export class Linear extends LinearLike {
  readonly layout = 'linear' as const;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    const rng = opts.rng ?? getGlobalRng();
    this.registerParameter('weight', kaimingUniform([outFeatures, inFeatures], Math.sqrt(5), rng));
    if (opts.bias ?? true) {
      const bound = 1 / Math.sqrt(inFeatures);
      this.registerParameter('bias', rng.uniformTensor([outFeatures], -bound, bound));
    }
  }

  baseForward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** GPT-2's `Conv1D`: weight [in, out], y = x·W + b. */
export class Conv1D extends LinearLike {
  readonly layout = 'conv1d' as const;

  constructor(
    readonly outFeatures: number,
    readonly inFeatures: number,
    opts: { rng?: Rng } = {},
  ) {
    super();
    const rng = opts.rng ?? getGlobalRng();
    this.registerParameter('weight', rng.normalTensor([inFeatures, outFeatures], 0, 0.02));
    this.registerParameter('bias', tf.zeros([outFeatures]));
  }

  baseForward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const x2 = tf.reshape(x, [-1, this.inFeatures]);
      const y = tf.add(tf.matMul(x2, this.weight), this.bias!);
      return tf.reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
}

/** `nn.Embedding`: weight [num, dim]; forward gathers rows for integer ids. */
export class Embedding extends LinearLike {
  readonly layout = 'embedding' as const;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { rng?: Rng } = {},
  ) {
    super();
    const rng = opts.rng ?? getGlobalRng();
    this.registerParameter('weight', rng.normalTensor([numEmbeddings, embeddingDim]));
  }

  get inFeatures(): number {
    return this.numEmbeddings;
  }

  get outFeatures(): number {
    return this.embeddingDim;
  }

  baseForward(ids: tf.Tensor): tf.Tensor {
    return embeddingLookup(this.weight, ids);
  }
}

/** Rows of `table` [num, dim] for integer `ids` [...]: [..., dim]. */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const flat = tf.cast(tf.reshape(ids, [-1]), 'int32');
    return tf.reshape(tf.gather(table, flat), [...ids.shape, table.shape[1] as number]);
  });
}

/** `nn.LayerNorm` over the last axis. */
export class LayerNorm extends Module {
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.registerParameter('weight', tf.ones([dim]));
    this.registerParameter('bias', tf.zeros([dim]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const norm = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(norm, this.parameter('weight')!), this.parameter('bias')!);
    });
  }
}

/** RMSNorm (LLaMA): x / √(mean(x²) + eps) · w. */
export class RMSNorm extends Module {
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.registerParameter('weight', tf.ones([dim]));
  }

  /** x: [.., dim] → [.., dim] (`PeftRmsNorm`: one pass on backends with a kernel). */
  forward(x: tf.Tensor): tf.Tensor {
    return rmsNorm({ x, weight: this.parameter('weight')! }, { eps: this.eps });
  }
}

/** Inverted dropout, active only in training mode; masks come from a seeded generator. */
export class Dropout extends Module {
  constructor(
    readonly p: number,
    readonly rng?: Rng,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout probability must be in [0, 1), got ${p}`);
  }

  forward(x: tf.Tensor, training = this.training): tf.Tensor {
    if (!training || this.p === 0) return x;
    return dropout(x, this.p, this.rng ?? getGlobalRng());
  }
}

/** x · mask / (1 − p) with a seeded Bernoulli mask. */
export function dropout(x: tf.Tensor, p: number, rng: Rng): tf.Tensor {
  return tf.tidy(() => {
    const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', rng.seed()), p), 'float32');
    return tf.mul(x, tf.mul(keep, 1 / (1 - p)));
  });
}
