import * as tf from '@tensorflow/tfjs-core';
import { dropout, linear, type Rng } from '@peftjs/core';

/** One direction of one `nn.LSTM` layer: W_ih [4H, in], W_hh [4H, H], b_ih, b_hh [4H]; gates in torch's order i, f, g, o. */
export interface LstmWeights {
  weightIh: tf.Tensor;
  weightHh: tf.Tensor;
  biasIh: tf.Tensor;
  biasHh: tf.Tensor;
}

/**
 * One direction of an LSTM layer over a sequence, as `torch.nn.LSTM` computes it:
 * i, f, g, o = σ, σ, tanh, σ (x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh);  c ← f·c + i·g;  h ← o·tanh(c).
 * x: [n, in] → h for every step, in the input's time order: [n, H]. `reverse` runs from the last step.
 */
export function lstmDirection(x: tf.Tensor, w: LstmWeights, reverse: boolean): tf.Tensor {
  return tf.tidy(() => {
    const n = x.shape[0] as number;
    const H = w.weightHh.shape[1] as number;
    // xw: [n, 4H] the input part of every step's gates
    const xw = tf.add(linear(x, w.weightIh, w.biasIh), w.biasHh);
    const steps = tf.split(xw, n, 0);
    let h: tf.Tensor = tf.zeros([1, H]);
    let c: tf.Tensor = tf.zeros([1, H]);
    const out: tf.Tensor[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const t = reverse ? n - 1 - k : k;
      const gates = tf.add(steps[t], tf.matMul(h, w.weightHh, false, true)); // [1, 4H]
      const [i, f, g, o] = tf.split(gates, 4, 1);
      c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
      h = tf.mul(tf.sigmoid(o), tf.tanh(c));
      out[t] = h;
    }
    return tf.concat(out, 0);
  });
}

/**
 * A bidirectional multi-layer `nn.LSTM` (batch_first, one sequence): each layer's output is
 * [forward ‖ backward] [n, 2H], the next layer's input; dropout between layers while training.
 * x: [n, in] → [n, 2H]
 */
export function bidirectionalLstm(
  x: tf.Tensor,
  layers: ReadonlyArray<{ forward: LstmWeights; backward: LstmWeights }>,
  opts: { dropout: number; training: boolean; rng: Rng },
): tf.Tensor {
  return tf.tidy(() => {
    let h = x;
    layers.forEach((layer, k) => {
      if (k > 0 && opts.training && opts.dropout > 0) h = dropout(h, opts.dropout, opts.rng);
      h = tf.concat([lstmDirection(h, layer.forward, false), lstmDirection(h, layer.backward, true)], 1);
    });
    return h;
  });
}
