import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { loadModelWithReport, loadTokenizer, loadGenerationConfig, generate, type CausalLMModel } from '../src/index.js';

const DIR = fileURLToPath(new URL('../assets/peftjs-tiny-llama', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../assets/peftjs-tiny-llama-reference.json', import.meta.url));
const present = existsSync(`${DIR}/model.safetensors`) && existsSync(`${DIR}/config.json`) && existsSync(`${DIR}/tokenizer.json`);

describe.skipIf(!present)('the bundled peftjs-tiny-llama', () => {
  it('loads every tensor, chats through its template, and stops at eos or the token limit', async () => {
    const { model, report } = await loadModelWithReport(DIR);
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    const tok = await loadTokenizer(DIR);
    const gen = await loadGenerationConfig(DIR);
    expect(gen.eosTokenId).toBe(tok.eosTokenId);
    const ids = tok.encodeChat([{ role: 'user', content: 'Hello!' }], { addGenerationPrompt: true });
    expect(ids[0]).toBe(tok.bosTokenId);
    const out = await generate(model as CausalLMModel, [ids], { ...gen.options, maxNewTokens: 16 });
    expect(out.newTokens[0].length).toBeGreaterThan(0);
    expect(out.newTokens[0].length).toBeLessThanOrEqual(16);
    expect(typeof tok.decode(out.newTokens[0], { skipSpecialTokens: true })).toBe('string');
    model.dispose();
  });
});

interface Reference {
  prompt: string;
  input_ids: number[];
  last_position: { logits_first16: number[]; argmax: number };
  first_position_logits_first16: number[];
  greedy_new_ids: number[];
}

describe.skipIf(!present || !existsSync(REFERENCE))('peftjs-tiny-llama against its float32 torch reference', () => {
  it('same token ids, logits within 1e-3, and the same 20 greedy tokens (KV cache, no eos stop)', async () => {
    const ref = JSON.parse(readFileSync(REFERENCE, 'utf8')) as Reference;
    const { model } = await loadModelWithReport(DIR);
    const tok = await loadTokenizer(DIR);
    expect(tok.encode(ref.prompt)).toEqual(ref.input_ids);
    const T = ref.input_ids.length;
    const logits = tf.tidy(
      () => model.forward({ inputIds: tf.tensor2d([ref.input_ids], [1, T], 'int32') }).logits.arraySync() as number[][][],
    );
    const close = (got: number[], want: number[]) => Math.max(...want.map((w, i) => Math.abs(got[i] - w)));
    expect(close(logits[0][T - 1], ref.last_position.logits_first16)).toBeLessThan(1e-3);
    expect(close(logits[0][0], ref.first_position_logits_first16)).toBeLessThan(1e-3);
    const out = await generate(model as CausalLMModel, [ref.input_ids], { maxNewTokens: ref.greedy_new_ids.length });
    expect(out.newTokens[0]).toEqual(ref.greedy_new_ids);
    model.dispose();
  });
});
