import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, Rng, type ModelOutput } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { generate, loadModel, type CausalLMModel, type ModelBatch } from '@peftjs/models';
import { trainSteps } from '@peftjs/testing';
import { FIXTURES, disposeBatch, hasFixtures, lossOf, subsetTask, tinyLlama, trainOn } from '@peftjs/testing/fixtures';
import { pTuning } from '../src/index.js';

const registry = new PeftRegistry().use(pTuning).use(lora);

describe('P-Tuning v1', () => {
  it('prepends the encoded virtual tokens: logits for n + T positions', () => {
    const peft = new PeftModel(tinyLlama(), { registry, rng: new Rng(1) });
    peft.addAdapter('default', {
      peft_type: 'P_TUNING',
      num_virtual_tokens: 3,
      encoder_reparameterization_type: 'LSTM',
      encoder_hidden_size: 4,
    });
    const out = tf.tidy(() => peft.forward({ inputIds: tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32') }).logits);
    expect(out.shape).toEqual([1, 7, 64]);
    out.dispose();
    peft.dispose();
  });

  it('greedy decoding with the KV cache gives the tokens of decoding without it', async () => {
    const peft = new PeftModel(tinyLlama(), { registry, rng: new Rng(1) });
    peft.addAdapter('default', { peft_type: 'P_TUNING', num_virtual_tokens: 4 });
    const model = { forward: (b: ModelBatch) => peft.forward(b), newCache: () => (peft.base as unknown as CausalLMModel).newCache() };
    const prompt = [
      [5, 9, 11],
      [7, 7, 2],
    ];
    const cached = await generate(model, prompt, { maxNewTokens: 6 });
    const uncached = await generate(model, prompt, { maxNewTokens: 6, useCache: false });
    expect(cached.newTokens).toEqual(uncached.newTokens);
    const plain = await peft.disableAdapter(() => generate(model, prompt, { maxNewTokens: 6 }));
    expect(plain.newTokens).not.toEqual(cached.newTokens);
    peft.dispose();
  });
});

describe.skipIf(!hasFixtures)('P-Tuning v1 training', () => {
  for (const [type, lr, steps] of [
    ['MLP', 0.03, 30],
    ['LSTM', 0.05, 25],
  ] as const) {
    it(`${type}: learns a small task, the held-out loss falling by more than 10%`, async () => {
      const peft = new PeftModel((await loadModel(join(FIXTURES, 'llama/base'))) as never, { registry, rng: new Rng(1) }) as PeftModel<
        ModelBatch,
        ModelOutput
      >;
      peft.addAdapter('default', {
        peft_type: 'P_TUNING',
        num_virtual_tokens: 8,
        encoder_reparameterization_type: type,
        encoder_hidden_size: 32,
      });
      const train = [1, 3, 4, 5].map((seed) => subsetTask(seed, 8, 6));
      const heldOut = subsetTask(2, 8, 6);
      const before = lossOf(peft, heldOut);
      trainOn(peft, train, steps, lr);
      const after = lossOf(peft, heldOut);
      console.log(`[train] P-Tuning ${type}, llama fixture: held-out loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
      expect(after).toBeLessThan(before * 0.9);
      [...train, heldOut].forEach(disposeBatch);
      peft.dispose();
    });
  }

  it('composes with a LoRA adapter: both run and train at once', async () => {
    const peft = new PeftModel((await loadModel(join(FIXTURES, 'llama/base'))) as never, { registry, rng: new Rng(1) }) as PeftModel<
      ModelBatch,
      ModelOutput
    >;
    peft.addAdapter('ptuning', { peft_type: 'P_TUNING', num_virtual_tokens: 4, encoder_hidden_size: 8 });
    peft.addAdapter('lora', { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj'], init_lora_weights: false });
    peft.setAdapter(['ptuning', 'lora']);
    // P-Tuning MLP: 4·32 + (32·8 + 8) + (8·8 + 8) + (8·32 + 32); LoRA on q_proj: 2 layers × (2·32 + 32·2)
    expect(peft.countParameters().trainable).toBe(4 * 32 + 264 + 72 + 288 + 2 * 128);
    const batch = subsetTask(1, 4, 6);
    const logitsOf = (names: string[]) => {
      peft.setAdapter(names);
      return tf.tidy(() => peft.forward({ inputIds: batch.inputIds }).logits);
    };
    const [both, alone] = [logitsOf(['ptuning', 'lora']), logitsOf(['ptuning'])];
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(both, alone))).dataSync()[0])).toBeGreaterThan(1e-3);
    peft.setAdapter(['ptuning', 'lora']);
    const losses = trainSteps(peft, batch, { steps: 3, learningRate: 0.01 });
    expect(losses[2]).toBeLessThan(losses[0]);
    tf.dispose([both, alone]);
    disposeBatch(batch);
    peft.dispose();
  });
});
