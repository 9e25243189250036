import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module, Rng, type ModelDims, type ModelOutput, type PeftBaseModel, type SiteTable } from '@peftjs/core';

export interface RegressionBatch {
  /** [B, D] */
  x: tf.Tensor;
  /** [B, D] */
  labels?: tf.Tensor;
}

/** x [B, D] → layers.0 → tanh → layers.1 → tanh → … → layers.{n−1}; MSE loss. */
export class DeepMlp extends Module implements PeftBaseModel<RegressionBatch, ModelOutput> {
  readonly dims: ModelDims;
  readonly sites: SiteTable = {};
  readonly layers: Linear[];

  constructor(
    readonly width = 16,
    depth = 4,
    seed = 3,
  ) {
    super();
    const rng = new Rng(seed);
    const list = this.registerModule('layers', new Module());
    this.layers = Array.from({ length: depth }, (_, i) => list.registerModule(String(i), new Linear(width, width, { rng })));
    this.dims = { modelType: 'deep-mlp', numLayers: depth, hiddenSize: width, numHeads: 1, numKvHeads: 1, headDim: width, vocabSize: 0 };
  }

  forward(batch: RegressionBatch): ModelOutput {
    return tf.tidy(() => {
      let h = batch.x;
      this.layers.forEach((l, i) => (h = i < this.layers.length - 1 ? tf.tanh(l.forward(h)) : l.forward(h)));
      if (!batch.labels) return { logits: h };
      return { logits: h, loss: tf.mean(tf.square(tf.sub(h, batch.labels))) as tf.Scalar };
    });
  }
}

export interface Example {
  x: number[];
  y: number[];
}

/**
 * A regression task where one layer matters more: the teacher is the student's base model with a
 * rank-`rank` change of `layers.<layer>` (and nothing else), so fitting it needs rank there only.
 */
export function teacherTask(opts: {
  layer: number;
  rank: number;
  size: number;
  seed: number;
  width?: number;
  depth?: number;
  modelSeed?: number;
}): Example[] {
  const { layer, rank, size, seed } = opts;
  const teacher = new DeepMlp(opts.width, opts.depth, opts.modelSeed);
  const rng = new Rng(seed);
  const w = teacher.layers[layer].weight;
  tf.tidy(() => {
    const u = rng.normalTensor([w.shape[0] as number, rank], 0, 0.6);
    const v = rng.normalTensor([rank, w.shape[1] as number], 0, 0.6);
    w.assign(tf.add(w, tf.matMul(u, v)));
  });
  const x = rng.uniformTensor([size, teacher.width], -1, 1);
  const y = tf.tidy(() => teacher.forward({ x }).logits);
  const xs = x.arraySync() as number[][];
  const ys = y.arraySync() as number[][];
  tf.dispose([x, y]);
  teacher.dispose();
  return xs.map((row, i) => ({ x: row, y: ys[i] }));
}

export function collate(items: readonly Example[]): RegressionBatch {
  return { x: tf.tensor2d(items.map((e) => e.x)), labels: tf.tensor2d(items.map((e) => e.y)) };
}
