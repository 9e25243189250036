import * as tf from '@tensorflow/tfjs-core';
import { Module, type HookContext, type LinearHook, type LinearLike, type Rng } from '@peftjs/core';

/**
 * (IA)³ on one linear layer: a learned vector ℓ rescales the layer's input (feed-forward layers,
 * ℓ: [1, in]) or its output, bias included (the others, ℓ: [out, 1]). Shapes and the name
 * `ia3_l` are PEFT's.
 */
export class Ia3Hook implements LinearHook {
  readonly params = new Module();

  constructor(
    readonly layer: LinearLike,
    readonly isFeedforward: boolean,
    init: boolean,
    rng: Rng,
  ) {
    const shape = isFeedforward ? [1, layer.inFeatures] : [layer.outFeatures, 1];
    this.params.registerParameter('ia3_l', init ? tf.ones(shape) : rng.normalTensor(shape));
  }

  get ia3L(): tf.Variable {
    return this.params.parameter('ia3_l')!;
  }

  forward(x: tf.Tensor, next: (x: tf.Tensor) => tf.Tensor, _ctx: HookContext): tf.Tensor {
    return tf.tidy(() => {
      const l = tf.reshape(this.ia3L, [-1]);
      return this.isFeedforward ? next(tf.mul(x, l)) : tf.mul(next(x), l);
    });
  }

  /** ℓ in the weight's layout: rows of W [out, in] for outputs, columns for inputs; Conv1D's W [in, out] takes ℓᵀ. */
  private scale(): tf.Tensor {
    return this.layer.layout === 'conv1d' ? tf.transpose(this.ia3L) : this.ia3L;
  }

  mergeWeight(w: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(w, this.scale()));
  }

  unmergeWeight(w: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.div(w, tf.add(this.scale(), 1e-8)));
  }

  /** The output scaling covers the bias too: b → b·ℓ (feed-forward layers scale the input only). */
  mergeBias(b: tf.Tensor): tf.Tensor {
    return this.isFeedforward ? b : tf.tidy(() => tf.mul(b, tf.reshape(this.ia3L, [-1])));
  }

  unmergeBias(b: tf.Tensor): tf.Tensor {
    return this.isFeedforward ? b : tf.tidy(() => tf.div(b, tf.add(tf.reshape(this.ia3L, [-1]), 1e-8)));
  }
}
