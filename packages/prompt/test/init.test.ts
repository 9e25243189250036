import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, Rng, type Embedding } from '@peftjs/core';
import { loadTokenizer } from '@peftjs/models';
import { TINY_LLAMA_CONFIG, tinyLlama } from '@peftjs/testing/fixtures';
import { fitToLength, promptTuning, textInitTokenIds, type PromptEmbeddingHook } from '../src/index.js';

const TOKENIZER_DIR = fileURLToPath(new URL('../../models/assets/peftjs-tiny-llama', import.meta.url));

function promptOf(peft: PeftModel<never, unknown>): number[][] {
  return (peft.adapter('default').hooks[0].hook as PromptEmbeddingHook).virtualTokens.arraySync() as number[][];
}

function rowsOf(model: ReturnType<typeof tinyLlama>, ids: number[]): number[][] {
  const table = (model.getModule('model.embed_tokens') as Embedding).weight;
  return tf.tidy(() => tf.gather(table, ids).arraySync() as number[][]);
}

describe('Prompt Tuning init', () => {
  it('truncates the init text ids to num_virtual_tokens, or repeats them until they fill it', () => {
    expect(fitToLength([1, 2, 3, 4], 2)).toEqual([1, 2]);
    expect(fitToLength([1, 2, 3], 7)).toEqual([1, 2, 3, 1, 2, 3, 1]);
  });

  it('TEXT init copies the word embeddings of the tokenized text', () => {
    const model = tinyLlama();
    const peft = new PeftModel(model, { registry: new PeftRegistry().use(promptTuning) });
    const tokenizer = { encode: (text: string) => (text === 'good movie' ? [1, 17, 23] : []) };
    peft.addAdapter('default', {
      peft_type: 'PROMPT_TUNING',
      num_virtual_tokens: 5,
      prompt_tuning_init: 'TEXT',
      prompt_tuning_init_text: 'good movie',
      tokenizer_name_or_path: 'peftjs-tiny-llama',
      tokenizer,
    });
    expect(promptOf(peft)).toEqual(rowsOf(model, [1, 17, 23, 1, 17]));
    peft.dispose();
  });

  it.skipIf(!existsSync(`${TOKENIZER_DIR}/tokenizer.json`))(
    'TEXT init takes a PretrainedTokenizer of @peftjs/models, special tokens included as in PEFT',
    async () => {
      const tokenizer = await loadTokenizer(TOKENIZER_DIR);
      const model = tinyLlama(0, { ...TINY_LLAMA_CONFIG, vocab_size: tokenizer.vocabSize });
      const peft = new PeftModel(model, { registry: new PeftRegistry().use(promptTuning) });
      const text = 'Classify the sentiment';
      const ids = textInitTokenIds(tokenizer, text, 4);
      expect(ids[0]).toBe(tokenizer.tokenToId('<s>'));
      peft.addAdapter('default', {
        peft_type: 'PROMPT_TUNING',
        num_virtual_tokens: 4,
        prompt_tuning_init: 'TEXT',
        prompt_tuning_init_text: text,
        tokenizer_name_or_path: 'peftjs-tiny-llama',
        tokenizer,
      });
      expect(promptOf(peft)).toEqual(rowsOf(model, ids));
      peft.dispose();
    },
  );

  it('TEXT init needs a tokenizer (or the token ids) in the config, and says so', () => {
    const peft = new PeftModel(tinyLlama(), { registry: new PeftRegistry().use(promptTuning) });
    expect(() =>
      peft.addAdapter('default', {
        peft_type: 'PROMPT_TUNING',
        num_virtual_tokens: 2,
        prompt_tuning_init: 'TEXT',
        prompt_tuning_init_text: 'x',
        tokenizer_name_or_path: 't',
      }),
    ).toThrow(/needs the tokenizer: pass `tokenizer`/);
  });

  it('TEXT init accepts precomputed prompt_tuning_init_token_ids instead of a tokenizer', () => {
    const model = tinyLlama();
    const peft = new PeftModel(model, { registry: new PeftRegistry().use(promptTuning) });
    peft.addAdapter('default', {
      peft_type: 'PROMPT_TUNING',
      num_virtual_tokens: 2,
      prompt_tuning_init: 'TEXT',
      prompt_tuning_init_text: 'x',
      tokenizer_name_or_path: 't',
      prompt_tuning_init_token_ids: [5, 6, 7],
    });
    expect(promptOf(peft)).toEqual(rowsOf(model, [5, 6]));
    peft.dispose();
  });

  it('SAMPLE_VOCAB init copies word embeddings of token ids drawn from the vocabulary', () => {
    const model = tinyLlama();
    const peft = new PeftModel(model, { registry: new PeftRegistry().use(promptTuning), rng: new Rng(3) });
    peft.addAdapter('default', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 4, prompt_tuning_init: 'SAMPLE_VOCAB' });
    const draw = new Rng(3);
    const ids = Array.from({ length: 4 }, () => draw.int(64));
    expect(promptOf(peft)).toEqual(rowsOf(model, ids));
    peft.dispose();
  });

  it('RANDOM init draws N(0, 1), as torch initialises nn.Embedding', () => {
    const peft = new PeftModel(tinyLlama(), { registry: new PeftRegistry().use(promptTuning), rng: new Rng(5) });
    peft.addAdapter('default', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 64 });
    const values = promptOf(peft).flat();
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(std - 1)).toBeLessThan(0.1);
    peft.dispose();
  });

  it('a saved TEXT adapter loads for inference without a tokenizer (its weights come from the file)', () => {
    const peft = new PeftModel(tinyLlama(), { registry: new PeftRegistry().use(promptTuning) });
    expect(() =>
      peft.addAdapter('default', {
        peft_type: 'PROMPT_TUNING',
        num_virtual_tokens: 2,
        prompt_tuning_init: 'TEXT',
        prompt_tuning_init_text: 'x',
        tokenizer_name_or_path: 't',
        inference_mode: true,
      }),
    ).not.toThrow();
    peft.dispose();
  });
});
