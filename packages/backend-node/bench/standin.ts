/**
 * A decoder-only transformer in raw tfjs ops with the matMul shapes of PERFORMANCE.md's benchmark
 * model (pre-LayerNorm, causal attention, tanh-GELU FFN, untied LM head, linear weights [out, in]
 * as in core's `Linear`). A stand-in for @peftjs/models, used by the bench and the tests.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface StandinConfig {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  ffn: number;
  seq: number;
  batch: number;
  /** LoRA rank on q and v. */
  rank: number;
}

/** PERFORMANCE.md's shape: 3.5M parameters. */
export const BENCH_CONFIG: StandinConfig = { vocab: 512, hidden: 256, layers: 4, heads: 4, ffn: 1024, seq: 64, batch: 8, rank: 8 };

export interface Standin {
  config: StandinConfig;
  /** Base weights (frozen in the LoRA step). */
  base: tf.Variable[];
  /** LoRA A/B of q and v, per layer. */
  lora: tf.Variable[];
  ids: tf.Tensor2D;
  labels: tf.Tensor2D;
  /** Mean next-token cross-entropy; `withLora` adds the LoRA deltas. */
  loss(withLora: boolean): tf.Scalar;
  dispose(): void;
}

interface Layer {
  ln1: tf.Variable;
  ln2: tf.Variable;
  wq: tf.Variable;
  wk: tf.Variable;
  wv: tf.Variable;
  wo: tf.Variable;
  w1: tf.Variable;
  w2: tf.Variable;
  // A: [r, in]   B: [out, r]   ΔW = B·A·(α/r): [out, in]
  aq: tf.Variable;
  bq: tf.Variable;
  av: tf.Variable;
  bv: tf.Variable;
}

/** Deterministic uniform values in [-scale, scale] (tfjs random differs per backend). */
function uniform(shape: number[], scale: number, seed: number): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    v[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return tf.tensor(v, shape, 'float32');
}

function linear(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  // x: [.., in]   w: [out, in]   →  [.., out]
  const inF = w.shape[1]!;
  const y = tf.matMul(tf.reshape(x, [-1, inF]), w, false, true);
  return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[0]!]);
}

function loraLinear(x: tf.Tensor, w: tf.Tensor, a: tf.Tensor, b: tf.Tensor, scaling: number, on: boolean): tf.Tensor {
  if (!on) return linear(x, w);
  return tf.add(linear(x, w), tf.mul(linear(linear(x, a), b), scaling));
}

function layerNorm(x: tf.Tensor, gain: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gain);
}

function gelu(x: tf.Tensor): tf.Tensor {
  // tanh approximation; the cube as x·x·x (PERFORMANCE.md: faster than Pow on wasm)
  const cube = tf.mul(tf.mul(x, x), x);
  const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

export function makeStandin(config: StandinConfig, seed = 1): Standin {
  const { vocab: V, hidden: D, layers: L, heads: H, ffn: F, seq: T, batch: B, rank: r } = config;
  const hd = D / H;
  let k = seed * 1000;
  // tf.variable shares its initial tensor's data; dispose the tensor so only the variable remains
  const own = (init: tf.Tensor) => {
    const variable = tf.variable(init);
    init.dispose();
    return variable;
  };
  const v = (shape: number[], scale: number) => own(uniform(shape, scale, ++k));
  const ones = (n: number) => own(tf.ones([n]));
  const embed = v([V, D], 0.1);
  const lnF = ones(D);
  const head = v([V, D], 1 / Math.sqrt(D));
  const layers: Layer[] = [];
  for (let l = 0; l < L; l++) {
    const w = (o: number, i: number) => v([o, i], 1 / Math.sqrt(i));
    layers.push({
      ln1: ones(D),
      ln2: ones(D),
      wq: w(D, D),
      wk: w(D, D),
      wv: w(D, D),
      wo: w(D, D),
      w1: w(F, D),
      w2: w(D, F),
      aq: w(r, D),
      bq: v([D, r], 0.05),
      av: w(r, D),
      bv: v([D, r], 0.05),
    });
  }
  const base = [embed, lnF, head, ...layers.flatMap((y) => [y.ln1, y.ln2, y.wq, y.wk, y.wv, y.wo, y.w1, y.w2])];
  const lora = layers.flatMap((y) => [y.aq, y.bq, y.av, y.bv]);
  const idsData = new Int32Array(B * T);
  let s = seed;
  for (let i = 0; i < idsData.length; i++) idsData[i] = (s = (s * 1103515245 + 12345) >>> 0) % V;
  const ids = tf.tensor2d(idsData, [B, T], 'int32');
  const labels = tf.tensor2d(
    idsData.map((_, i) => idsData[(i + 1) % idsData.length]!),
    [B, T],
    'int32',
  );
  // [T, T] additive causal mask, shared by all heads
  const causal = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9));
  const scaling = 16 / r;

  const loss = (withLora: boolean): tf.Scalar =>
    tf.tidy(() => {
      let x = tf.reshape(tf.gather(embed, tf.reshape(ids, [-1])), [B, T, D]);
      for (const y of layers) {
        const h = layerNorm(x, y.ln1);
        const heads = (t: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]), [B * H, T, hd]);
        const q = heads(loraLinear(h, y.wq, y.aq, y.bq, scaling, withLora));
        const kk = heads(linear(h, y.wk));
        const vv = heads(loraLinear(h, y.wv, y.av, y.bv, scaling, withLora));
        const scores = tf.add(tf.mul(tf.matMul(q, kk, false, true), 1 / Math.sqrt(hd)), causal);
        const ctx = tf.matMul(tf.softmax(scores), vv); // [B·H, T, hd]
        const merged = tf.reshape(tf.transpose(tf.reshape(ctx, [B, H, T, hd]), [0, 2, 1, 3]), [B, T, D]);
        x = tf.add(x, linear(merged, y.wo));
        x = tf.add(x, linear(gelu(linear(layerNorm(x, y.ln2), y.w1)), y.w2));
      }
      const logits = tf.reshape(linear(layerNorm(x, lnF), head), [B * T, V]);
      const logp = tf.logSoftmax(logits);
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(labels, [-1]), V)), -1);
      return tf.neg(tf.mean(picked)) as tf.Scalar;
    });

  return {
    config,
    base,
    lora,
    ids,
    labels,
    loss,
    dispose() {
      tf.dispose([...base, ...lora, ids, labels, causal]);
    },
  };
}

/** One Adam step on `vars`; returns the loss before the update. */
export function trainStep(model: Standin, optimizer: tf.Optimizer, vars: tf.Variable[], withLora: boolean): number {
  const loss = optimizer.minimize(() => model.loss(withLora), true, vars)!;
  const value = loss.dataSync()[0]!;
  loss.dispose();
  return value;
}
