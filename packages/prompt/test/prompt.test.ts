import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, Rng, adapterStateDict, prependVirtualTokens, type ModelOutput } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { generate, loadModel, type CausalLMModel, type ModelBatch } from '@peftjs/models';
import { trainSteps } from '@peftjs/testing';
import { FIXTURES, disposeBatch, hasFixtures, lossOf, subsetTask, tinyLlama, trainOn } from '@peftjs/testing/fixtures';
import { promptTuning } from '../src/index.js';

const registry = new PeftRegistry().use(promptTuning).use(lora);

describe('virtual tokens at the inputEmbeddings site', () => {
  it('are prepended to every row, with ones in the mask and -100 in the labels', () => {
    const prompts = tf.tensor2d([
      [1, 1],
      [2, 2],
    ]);
    const batch = {
      embeds: tf.tensor3d([[[5, 5]], [[6, 6]]]),
      attentionMask: tf.tensor2d([[1], [0]], [2, 1], 'int32'),
      labels: tf.tensor2d([[7], [8]], [2, 1], 'int32'),
    };
    const out = prependVirtualTokens(batch, prompts);
    expect(out.embeds.arraySync()).toEqual([
      [
        [1, 1],
        [2, 2],
        [5, 5],
      ],
      [
        [1, 1],
        [2, 2],
        [6, 6],
      ],
    ]);
    expect(out.attentionMask.arraySync()).toEqual([
      [1, 1, 1],
      [1, 1, 0],
    ]);
    expect(out.labels!.arraySync()).toEqual([
      [-100, -100, 7],
      [-100, -100, 8],
    ]);
    expect(out.labels!.dtype).toBe('int32');
  });

  it('make a causal LM return logits for n + T positions; the loss starts at the last virtual position, which predicts the first token', () => {
    const peft = new PeftModel(tinyLlama(), { registry, rng: new Rng(1) });
    peft.addAdapter('default', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 3 });
    const ids = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
    const out = peft.forward({ inputIds: ids, labels: ids });
    expect(out.logits.shape).toEqual([1, 7, 64]);
    // labels [-100 ×3, 1, 2, 3, 4] shifted: logits at positions 2..5 predict tokens 1, 2, 3, 4 (as in PEFT)
    const expected = tf.tidy(() => {
      const logp = tf.logSoftmax(tf.slice(out.logits, [0, 2, 0], [1, 4, 64]));
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32'), 64)), -1);
      return -tf.mean(picked).dataSync()[0];
    });
    expect(out.loss!.dataSync()[0]).toBeCloseTo(expected, 5);
    tf.dispose([ids, out.logits, out.loss!]);
    peft.dispose();
  });
});

describe('generation', () => {
  it('greedy decoding with the KV cache gives the tokens of decoding without it', async () => {
    const peft = new PeftModel(tinyLlama(), { registry, rng: new Rng(1) });
    peft.addAdapter('default', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 4 });
    const model = { forward: (b: ModelBatch) => peft.forward(b), newCache: () => (peft.base as unknown as CausalLMModel).newCache() };
    const prompt = [
      [5, 9, 11],
      [7, 7, 2],
    ];
    const cached = await generate(model, prompt, { maxNewTokens: 6 });
    const uncached = await generate(model, prompt, { maxNewTokens: 6, useCache: false });
    expect(cached.newTokens).toEqual(uncached.newTokens);
    // and the prompt changes what is generated
    const base = await peft.disableAdapter(() => generate(model, prompt, { maxNewTokens: 6 }));
    expect(base.newTokens).not.toEqual(cached.newTokens);
    peft.dispose();
  });
});

describe.skipIf(!hasFixtures)('training', () => {
  it('learns a small task: the held-out loss falls by more than 10%', async () => {
    const peft = new PeftModel((await loadModel(join(FIXTURES, 'llama/base'))) as never, { registry, rng: new Rng(1) }) as PeftModel<
      ModelBatch,
      ModelOutput
    >;
    peft.addAdapter('default', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 8, prompt_tuning_init: 'SAMPLE_VOCAB' });
    const train = [1, 3, 4, 5].map((seed) => subsetTask(seed, 8, 6));
    const heldOut = subsetTask(2, 8, 6);
    const before = lossOf(peft, heldOut);
    trainOn(peft, train, 30, 0.3);
    const after = lossOf(peft, heldOut);
    console.log(`[train] prompt tuning, llama fixture: held-out loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
    expect(after).toBeLessThan(before * 0.9);
    [...train, heldOut].forEach(disposeBatch);
    peft.dispose();
  });

  it('composes with a LoRA adapter: both run and train at once, each changing the output', async () => {
    const peft = new PeftModel((await loadModel(join(FIXTURES, 'llama/base'))) as never, { registry, rng: new Rng(1) }) as PeftModel<
      ModelBatch,
      ModelOutput
    >;
    peft.addAdapter('prompt', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 4 });
    peft.addAdapter('lora', { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'], init_lora_weights: false });
    peft.setAdapter(['prompt', 'lora']);
    const trainable = new Set(peft.trainableParameters().map(([n]) => n));
    expect(trainable.has('prompt_encoder.embedding.prompt.weight')).toBe(true);
    expect(trainable.has('model.layers.0.self_attn.q_proj.lora_A.lora.weight')).toBe(true);
    expect(peft.countParameters().trainable).toBe(4 * 32 + 2 * 2 * (2 * 32 + 2 * 32) - 2 * 2 * 16);
    const train = subsetTask(1, 8, 6);
    const logits = (names: string[]) => {
      peft.setAdapter(names);
      return tf.tidy(() => peft.forward({ inputIds: train.inputIds }).logits);
    };
    const both = logits(['prompt', 'lora']);
    const promptOnly = logits(['prompt']);
    expect(both.shape).toEqual([8, 10, 128]);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(both, promptOnly))).dataSync()[0])).toBeGreaterThan(1e-3);
    peft.setAdapter(['prompt', 'lora']);
    const before = snapshot(peft);
    trainSteps(peft, train, { steps: 2, learningRate: 0.01 });
    const changed = [...before]
      .filter(([n, v]) => !tf.tidy(() => tf.equal(tf.max(tf.abs(tf.sub(peftParam(peft, n), v))), 0).dataSync()[0]))
      .map(([n]) => n);
    expect(changed.some((n) => n.startsWith('prompt_encoder.'))).toBe(true);
    expect(changed.some((n) => n.includes('lora_'))).toBe(true);
    expect([...adapterStateDict(peft.adapter('prompt')).keys()]).toEqual(['prompt_embeddings']);
    tf.dispose([both, promptOnly, ...before.values()]);
    disposeBatch(train);
    peft.dispose();
  });
});

function snapshot(peft: PeftModel<never, unknown>): Map<string, tf.Tensor> {
  return new Map(peft.trainableParameters().map(([n, v]) => [n, tf.clone(v)]));
}

function peftParam(peft: PeftModel<never, unknown>, name: string): tf.Variable {
  return peft.namedParameters().find(([n]) => n === name)![1];
}
