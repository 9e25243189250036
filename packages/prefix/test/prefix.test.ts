import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, Rng, type ModelOutput } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { generate, loadModel, type CausalLMModel, type ModelBatch } from '@peftjs/models';
import { trainSteps } from '@peftjs/testing';
import { FIXTURES, disposeBatch, hasFixtures, lossOf, subsetTask, trainOn } from '@peftjs/testing/fixtures';
import { prefixTuning } from '../src/index.js';

const registry = new PeftRegistry().use(prefixTuning).use(lora);

async function fixturePeft(base: string): Promise<PeftModel<ModelBatch, ModelOutput>> {
  return new PeftModel((await loadModel(join(FIXTURES, base))) as never, { registry, rng: new Rng(1) });
}

describe.skipIf(!hasFixtures)('Prefix Tuning on the fixture models', () => {
  for (const [base, config] of [
    ['llama/base', { num_virtual_tokens: 4 }],
    ['gpt2/base', { num_virtual_tokens: 4, prefix_projection: true }],
  ] as const) {
    it(`${base}: greedy decoding with the KV cache gives the tokens of decoding without it`, async () => {
      const peft = await fixturePeft(base);
      peft.addAdapter('default', { peft_type: 'PREFIX_TUNING', ...config });
      const model = { forward: (b: ModelBatch) => peft.forward(b), newCache: () => (peft.base as unknown as CausalLMModel).newCache() };
      const prompt = [
        [5, 9, 11, 3],
        [7, 7, 2, 1],
      ];
      const attentionMask = [
        [1, 1, 1, 1],
        [0, 1, 1, 1],
      ];
      const cached = await generate(model, prompt, { maxNewTokens: 6, attentionMask });
      const uncached = await generate(model, prompt, { maxNewTokens: 6, attentionMask, useCache: false });
      expect(cached.newTokens).toEqual(uncached.newTokens);
      const plain = await peft.disableAdapter(() => generate(model, prompt, { maxNewTokens: 6, attentionMask }));
      expect(plain.newTokens).not.toEqual(cached.newTokens);
      peft.dispose();
    });
  }

  it('learns a small task: the held-out loss falls by more than 10%', async () => {
    const peft = await fixturePeft('llama/base');
    peft.addAdapter('default', { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 8 });
    const train = [1, 3, 4, 5].map((seed) => subsetTask(seed, 8, 6));
    const heldOut = subsetTask(2, 8, 6);
    const before = lossOf(peft, heldOut);
    trainOn(peft, train, 30, 0.1);
    const after = lossOf(peft, heldOut);
    console.log(`[train] prefix tuning, llama fixture (GQA): held-out loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
    expect(after).toBeLessThan(before * 0.9);
    [...train, heldOut].forEach(disposeBatch);
    peft.dispose();
  });

  it('composes with a LoRA adapter: both run and train at once, each changing the output', async () => {
    const peft = await fixturePeft('llama/base');
    peft.addAdapter('prefix', { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 4 });
    peft.addAdapter('lora', { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'], init_lora_weights: false });
    peft.setAdapter(['prefix', 'lora']);
    // prefix: 4 × 2 layers × 2 × (2 kv heads × 8); LoRA: 2 layers × (q: 2·32 + 32·2, v: 2·32 + 16·2)
    expect(peft.countParameters().trainable).toBe(4 * 2 * 2 * 16 + 2 * (2 * 32 + 32 * 2 + 2 * 32 + 16 * 2));
    const batch = subsetTask(1, 4, 6);
    const logitsOf = (names: string[]) => {
      peft.setAdapter(names);
      return tf.tidy(() => peft.forward({ inputIds: batch.inputIds }).logits);
    };
    const [both, prefixOnly, loraOnly] = [logitsOf(['prefix', 'lora']), logitsOf(['prefix']), logitsOf(['lora'])];
    const diff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
    expect(diff(both, prefixOnly)).toBeGreaterThan(1e-3);
    expect(diff(both, loraOnly)).toBeGreaterThan(1e-3);
    peft.setAdapter(['prefix', 'lora']);
    const losses = trainSteps(peft, batch, { steps: 3, learningRate: 0.01 });
    expect(losses[2]).toBeLessThan(losses[0]);
    tf.dispose([both, prefixOnly, loraOnly]);
    disposeBatch(batch);
    peft.dispose();
  });
});
