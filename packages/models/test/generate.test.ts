import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@peftjs/core';
import { loadModel, generate, generateStream, sampleToken, type CausalLMModel } from '../src/index.js';
import { FIXTURES } from './fixtures.js';
import { attach, detach, prefixHook, promptHook } from './hooks.js';

const prompt = [
  [5, 17, 99, 3, 42],
  [8, 1, 64, 120, 7],
];

const models: Record<string, CausalLMModel> = {};
beforeAll(async () => {
  for (const name of ['llama', 'gpt2']) models[name] = (await loadModel(join(FIXTURES, `${name}/base`))) as CausalLMModel;
});
afterAll(() => Object.values(models).forEach((m) => m.dispose()));

describe.each(['llama', 'gpt2'])('%s generation', (name) => {
  it('greedy with the KV cache gives exactly the tokens of recomputing the whole sequence', async () => {
    const model = models[name];
    const before = tf.memory().numTensors;
    const cached = await generate(model, prompt, { maxNewTokens: 12 });
    const uncached = await generate(model, prompt, { maxNewTokens: 12, useCache: false });
    expect(cached.newTokens).toEqual(uncached.newTokens);
    expect(cached.newTokens.map((r) => r.length)).toEqual([12, 12]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('cached and uncached agree with an active attentionKV prefix (n = 3), which changes the tokens', async () => {
    const model = models[name];
    const { numKvHeads, headDim } = model.dims;
    const rng = new Rng(11);
    const plain = await generate(model, prompt, { maxNewTokens: 10 });
    const kv = model.sites.attentionKV.map(() => [
      rng.normalTensor([numKvHeads, 3, headDim], 0, 2),
      rng.normalTensor([numKvHeads, 3, headDim], 0, 2),
    ]);
    model.sites.attentionKV.forEach((s, l) => attach(s, prefixHook(kv[l][0], kv[l][1])));
    try {
      const cached = await generate(model, prompt, { maxNewTokens: 10 });
      const uncached = await generate(model, prompt, { maxNewTokens: 10, useCache: false });
      expect(cached.newTokens).toEqual(uncached.newTokens);
      expect(cached.newTokens).not.toEqual(plain.newTokens);
    } finally {
      model.sites.attentionKV.forEach((s) => detach(s));
      tf.dispose(kv.flat());
    }
  });

  it('cached and uncached agree with virtual tokens on the inputEmbeddings site', async () => {
    const model = models[name];
    const virtual = new Rng(5).normalTensor([4, model.dims.hiddenSize], 0, 1);
    attach(model.sites.inputEmbeddings, promptHook(virtual));
    try {
      const cached = await generate(model, prompt, { maxNewTokens: 8 });
      const uncached = await generate(model, prompt, { maxNewTokens: 8, useCache: false });
      expect(cached.newTokens).toEqual(uncached.newTokens);
    } finally {
      detach(model.sites.inputEmbeddings);
      virtual.dispose();
    }
  });

  it('the cached logits of each step equal the full forward pass at that position', async () => {
    const model = models[name];
    const seq = prompt[0];
    const cache = model.newCache();
    const steps: number[][] = [];
    tf.tidy(() => {
      const first = model.forward({ inputIds: tf.tensor2d([seq.slice(0, 3)], [1, 3], 'int32'), cache }).logits;
      steps.push(Array.from(tf.slice(first, [0, 2, 0], [1, 1, -1]).dataSync()));
      for (let t = 3; t < seq.length; t++) {
        const l = model.forward({ inputIds: tf.tensor2d([[seq[t]]], [1, 1], 'int32'), cache }).logits;
        steps.push(Array.from(l.dataSync()));
      }
    });
    cache.dispose();
    const full = tf.tidy(
      () => model.forward({ inputIds: tf.tensor2d([seq], [1, seq.length], 'int32') }).logits.arraySync() as number[][][],
    );
    steps.forEach((row, i) => {
      const ref = full[0][2 + i];
      const diff = Math.max(...row.map((v, j) => Math.abs(v - ref[j])));
      expect(diff).toBeLessThan(1e-5);
    });
  });
});

describe('generate options', () => {
  it('stops a row at eos, pads it afterwards, and reports the reason', async () => {
    const model = models.llama;
    const greedy = await generate(model, prompt, { maxNewTokens: 6 });
    const eos = greedy.newTokens[0][2];
    const r = await generate(model, prompt, { maxNewTokens: 6, eosTokenId: eos });
    expect(r.newTokens[0]).toEqual(greedy.newTokens[0].slice(0, 3));
    expect(r.finishReason[0]).toBe('eos');
    expect(r.sequences[0]).toEqual([...prompt[0], ...r.newTokens[0]]);
  });

  it('streams one step at a time and stops when onToken returns false', async () => {
    const seen: number[][] = [];
    for await (const s of generateStream(models.gpt2, [prompt[0]], { maxNewTokens: 4 })) seen.push(s.tokens);
    expect(seen.length).toBe(4);
    const r = await generate(models.gpt2, [prompt[0]], { maxNewTokens: 10, onToken: (s) => s.step < 1 });
    expect(r.newTokens[0].length).toBe(2);
    expect(r.finishReason[0]).toBe('stopped');
    expect(r.newTokens[0]).toEqual(seen.slice(0, 2).map((t) => t[0]));
  });

  it('sampling is reproducible with a seed and differs between seeds', async () => {
    const opts = { maxNewTokens: 12, temperature: 1.5, topK: 50, topP: 0.95 };
    const a = await generate(models.llama, prompt, { ...opts, seed: 1 });
    const b = await generate(models.llama, prompt, { ...opts, seed: 1 });
    const c = await generate(models.llama, prompt, { ...opts, seed: 2 });
    expect(a.newTokens).toEqual(b.newTokens);
    expect(a.newTokens).not.toEqual(c.newTokens);
  });

  it('top-k 1 and a tiny top-p are greedy', () => {
    const logits = [0.1, 2.5, -1, 2.4];
    const rng = new Rng(0);
    for (let i = 0; i < 20; i++) {
      expect(sampleToken(logits, { temperature: 1, topK: 1, topP: 1 }, rng)).toBe(1);
      expect(sampleToken(logits, { temperature: 1, topK: 0, topP: 0.01 }, rng)).toBe(1);
    }
    // top-k 2 never draws outside the two best
    for (let i = 0; i < 50; i++) expect([1, 3]).toContain(sampleToken(logits, { temperature: 5, topK: 2, topP: 1 }, rng));
  });
});
