import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module, Rng, type ModelDims, type ModelOutput, type PeftBaseModel, type SiteTable } from '@peftjs/core';
import { testLoss, type BatchOptions, type MlpInputs, type TestModelSpec } from '@peftjs/testing';
import { Linear4bit } from '../src/layer.js';
import { quantize4bit } from '../src/math.js';

/** The test MLP on a 4-bit base: `lin0` (NF4, double quant, [16, 64]) → ReLU → `lin1` (float head, [4, 16]). */
export class Mlp4bit extends Module implements PeftBaseModel<MlpInputs, ModelOutput> {
  readonly dims: ModelDims = {
    modelType: 'peftjs-mlp4bit',
    numLayers: 1,
    hiddenSize: 16,
    numHeads: 1,
    numKvHeads: 1,
    headDim: 16,
    vocabSize: 0,
  };
  readonly sites: SiteTable = {};
  readonly outputHeadPaths = ['lin1'] as const;

  constructor(seed: number) {
    super();
    const rng = new Rng(seed);
    const float = new Linear(64, 16, { rng });
    const w = float.weight.dataSync() as Float32Array;
    this.registerModule('lin0', new Linear4bit(quantize4bit(w, [16, 64], { quantType: 'nf4', doubleQuant: true }), tf.clone(float.bias!)));
    float.dispose();
    this.registerModule('lin1', new Linear(16, 4, { rng }));
    this.requiresGrad(false);
  }

  forward(inputs: MlpInputs): ModelOutput {
    return tf.tidy(() => {
      const h = tf.relu((this.child('lin0') as Linear4bit).forward(inputs.x));
      const logits = (this.child('lin1') as Linear).forward(h);
      return inputs.labels ? { logits, loss: testLoss('mse', logits, inputs.labels) } : { logits };
    });
  }
}

export const MLP_4BIT: TestModelSpec<MlpInputs> = {
  name: 'mlp-4bit',
  create: (seed) => new Mlp4bit(seed),
  batch: (_model, opts: BatchOptions) => {
    const rng = new Rng(opts.seed ?? 1);
    const b = opts.batchSize ?? 4;
    const x = rng.uniformTensor([b, 64], -1, 1);
    return opts.labels === false ? { x } : { x, labels: rng.normalTensor([b, 4]) };
  },
};
