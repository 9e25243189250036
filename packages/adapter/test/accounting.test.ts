import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry } from '@peftjs/core';
import { BertModel, SkipInitRng } from '@peftjs/models';
import { bottleneckAdapter } from '../src/index.js';

// BERT-base shapes (Houlsby et al. adapt BERT-base and BERT-large): built with zero weights, no download.
const BERT_BASE = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  max_position_embeddings: 512,
  type_vocab_size: 2,
};
const D = 768;
const LAYERS = 12;
/** Houlsby et al., §2.1: "The total number of parameters added per layer, including biases, is 2md + d + m." */
const perAdapter = (m: number) => 2 * m * D + D + m;

const model = new BertModel(BERT_BASE, { rng: new SkipInitRng() });
const registry = new PeftRegistry().use(bottleneckAdapter);
afterAll(() => {
  model.dispose();
  tf.disposeVariables();
});

describe("the paper's parameter accounting on BERT-base shapes", () => {
  it('has the 109,482,240 parameters of bert-base', () => {
    expect(model.namedParameters().reduce((n, [, v]) => n + v.size, 0)).toBe(109_482_240);
  });

  for (const [rf, m] of [
    [16, 48],
    [64, 12],
  ] as const) {
    it(`Houlsby at reduction factor ${rf} (m = ${m}) trains 2·(2md + d + m) per layer: ${(24 * perAdapter(m)).toLocaleString('en-US')}`, () => {
      const peft = new PeftModel(model, { registry });
      peft.addAdapter('task', { peft_type: 'BOTTLENECK_ADAPTER', config: 'double_seq_bn', reduction_factor: rf });
      const { trainable, all } = peft.countParameters();
      expect(trainable).toBe(2 * LAYERS * perAdapter(m));
      const share = (100 * trainable) / all;
      console.log(
        `[adapter] BERT-base Houlsby rf ${rf}: ${trainable.toLocaleString('en-US')} trainable of ${all.toLocaleString('en-US')} (${share.toFixed(2)}%)`,
      );
      expect(share).toBeCloseTo(rf === 16 ? 1.61 : 0.42, 2);
      peft.dispose();
    });
  }

  it("spans the paper's 0.5–8% band over its bottleneck sizes m = 8 … 256 (0.29% … 8.64% of the base model)", () => {
    const share = (m: number) => (100 * 2 * LAYERS * perAdapter(m)) / 109_482_240;
    expect(share(8)).toBeCloseTo(0.29, 2);
    expect(share(64)).toBeCloseTo(2.17, 2);
    expect(share(256)).toBeCloseTo(8.64, 2);
    const peft = new PeftModel(model, { registry });
    peft.addAdapter('m256', { peft_type: 'BOTTLENECK_ADAPTER', config: 'double_seq_bn', reduction_factor: 3 });
    expect(peft.countParameters().trainable).toBe(2 * LAYERS * perAdapter(256));
    peft.dispose();
  });

  it('Pfeiffer (one adapter per layer) trains half as much', () => {
    const peft = new PeftModel(model, { registry });
    peft.addAdapter('task', { peft_type: 'BOTTLENECK_ADAPTER', config: 'seq_bn', reduction_factor: 16 });
    expect(peft.countParameters().trainable).toBe(LAYERS * perAdapter(48));
    peft.dispose();
  });
});
