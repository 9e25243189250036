import * as tf from '@tensorflow/tfjs-core';
import {
  Linear,
  Module,
  Rng,
  SiteSlot,
  applySublayerOutput,
  type ModelDims,
  type ModelOutput,
  type PeftBaseModel,
  type SiteTable,
} from '@peftjs/core';
import { testLoss, type TestLoss } from './losses.js';

export interface MlpInputs {
  /** [B, in] floats. */
  x: tf.Tensor;
  /** MSE: [B, out] floats. CE: [B] class ids. */
  labels?: tf.Tensor;
}

export interface MlpOptions {
  inFeatures?: number;
  hiddenSize?: number;
  outFeatures?: number;
  loss?: TestLoss;
  /** Seeds the initial weights: two models made with the same seed are equal. */
  seed?: number;
}

/**
 * The smallest model a linear method can adapt: `lin0` → ReLU → `lin1`.
 *
 * It also has one `sublayerOutput` layer (two slots), so that bottleneck adapters can be tested:
 * - position `attention`: after `lin0`; output = input = lin0(x) (there is no residual stream of
 *   the hidden width before `lin0`);
 * - position `ffn`: after the ReLU; output = relu(h), input = h, the ReLU's input.
 * The slots see [B, 1, H] (a sequence of one), as a transformer's sublayers would.
 */
export class TestMlp extends Module implements PeftBaseModel<MlpInputs, ModelOutput> {
  readonly dims: ModelDims;
  readonly sites: SiteTable;
  readonly outputHeadPaths = ['lin1'] as const;
  readonly lin0: Linear;
  readonly lin1: Linear;
  readonly loss: TestLoss;

  constructor(opts: MlpOptions = {}) {
    super();
    const { inFeatures = 6, hiddenSize = 8, outFeatures = 4, loss = 'mse', seed = 0 } = opts;
    const rng = new Rng(seed);
    this.loss = loss;
    // lin0.weight: [H, in]   lin1.weight: [out, H]
    this.lin0 = this.registerModule('lin0', new Linear(inFeatures, hiddenSize, { rng }));
    this.lin1 = this.registerModule('lin1', new Linear(hiddenSize, outFeatures, { rng }));
    this.dims = {
      modelType: 'peftjs-mlp',
      numLayers: 1,
      hiddenSize,
      numHeads: 1,
      numKvHeads: 1,
      headDim: hiddenSize,
      vocabSize: 0,
    };
    this.sites = {
      sublayerOutput: [
        new SiteSlot('sublayerOutput', { path: 'sublayer.0.attention', layer: 0, position: 'attention' }),
        new SiteSlot('sublayerOutput', { path: 'sublayer.0.ffn', layer: 0, position: 'ffn' }),
      ],
    };
  }

  forward(inputs: MlpInputs): ModelOutput {
    return tf.tidy(() => {
      const [attnSite, ffnSite] = this.sites.sublayerOutput!;
      const batch = inputs.x.shape[0];
      const hidden = this.dims.hiddenSize;
      const asSeq = (t: tf.Tensor) => tf.reshape(t, [batch, 1, hidden]);
      const h0 = asSeq(this.lin0.forward(inputs.x)); // [B, 1, H]
      const h = applySublayerOutput(attnSite, h0, h0);
      const a = applySublayerOutput(ffnSite, tf.relu(h), h); // [B, 1, H]
      const logits = this.lin1.forward(tf.reshape(a, [batch, hidden])); // [B, out]
      if (!inputs.labels) return { logits };
      return { logits, loss: testLoss(this.loss, logits, inputs.labels) };
    });
  }
}

/** The MLP test model (`peftjs-mlp`). */
export function createMlp(opts: MlpOptions = {}): TestMlp {
  return new TestMlp(opts);
}

/** A seeded batch for the MLP: x uniform in [-1, 1); labels normal (MSE) or class ids (CE). */
export function mlpBatch(model: TestMlp, opts: { batchSize?: number; seed?: number; labels?: boolean } = {}): MlpInputs {
  const { batchSize = 4, seed = 1, labels = true } = opts;
  const rng = new Rng(seed);
  const inF = model.lin0.inFeatures;
  const outF = model.lin1.outFeatures;
  const x = rng.uniformTensor([batchSize, inF], -1, 1);
  if (!labels) return { x };
  const y =
    model.loss === 'mse'
      ? rng.normalTensor([batchSize, outF])
      : tf.tensor1d(
          Array.from({ length: batchSize }, () => rng.int(outF)),
          'int32',
        );
  return { x, labels: y };
}
