import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ADAPTER_WEIGHTS_NAME, PeftModel, PeftRegistry, Rng, loadAdapter, saveAdapter, type ModelOutput } from '@peftjs/core';
import { parseSafetensors } from '@peftjs/core/io';
import type { ModelBatch } from '@peftjs/models';
import { maxAbsDiff } from '@peftjs/testing';
import { logitsDiff, readTensors, tinyLlama, trainTinySubsetTask } from '@peftjs/testing/fixtures';
import { prefixEncoderOf, prefixTuning } from '../src/index.js';
import { ENCODER_FILE } from '@peftjs/core';

const tmp = mkdtempSync(join(tmpdir(), 'peftjs-prefix-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const registry = new PeftRegistry().use(prefixTuning);
const PROJ = { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 6 };

function trained(config: Record<string, unknown>): PeftModel<ModelBatch, ModelOutput> {
  const peft = new PeftModel(tinyLlama(), { registry, rng: new Rng(1) });
  peft.addAdapter('default', config);
  trainTinySubsetTask(peft, { seed: 1, steps: 2 });
  return peft;
}

describe('files of a projected prefix', () => {
  it("write PEFT's adapter_model.safetensors (only the projection's output) and our encoder file beside it", async () => {
    const peft = trained(PROJ);
    const dir = join(tmp, 'proj');
    await saveAdapter(peft, dir);
    const saved = readTensors(join(dir, ADAPTER_WEIGHTS_NAME));
    expect([...saved.keys()]).toEqual(['prompt_embeddings']);
    const output = tf.tidy(() => prefixEncoderOf(peft.adapter('default')).output());
    expect(saved.get('prompt_embeddings')!.shape).toEqual([3, 2 * 2 * 8]);
    expect(maxAbsDiff(saved.get('prompt_embeddings')!, output)).toBe(0);
    const encoder = parseSafetensors(new Uint8Array(readFileSync(join(dir, ENCODER_FILE))));
    // PEFT's PrefixEncoder.state_dict() names and shapes
    expect(Object.fromEntries([...encoder.tensors].map(([k, e]) => [k, e.shape]))).toEqual({
      'embedding.weight': [3, 8],
      'transform.0.weight': [6, 8],
      'transform.0.bias': [6],
      'transform.2.weight': [32, 6],
      'transform.2.bias': [32],
    });
    tf.dispose([output, ...saved.values()]);
    peft.dispose();
  });

  it('load with the encoder file for training: the projection is back, trainable, and training goes on', async () => {
    const peft = trained(PROJ);
    const dir = join(tmp, 'resume');
    await saveAdapter(peft, dir);
    const fresh = new PeftModel(tinyLlama(), { registry });
    await loadAdapter(fresh, dir, 'default', { trainable: true });
    expect(
      fresh
        .trainableParameters()
        .map(([n]) => n)
        .sort(),
    ).toEqual(
      ['embedding', 'transform.0.weight', 'transform.0.bias', 'transform.2.weight', 'transform.2.bias']
        .map((p) =>
          p === 'embedding' ? 'prompt_encoder.embedding.default.weight' : `prompt_encoder.${p.replace(/\.(weight|bias)$/, '.default.$1')}`,
        )
        .sort(),
    );
    expect(logitsDiff(peft, fresh)).toBe(0);
    const losses = trainTinySubsetTask(fresh, { seed: 3, steps: 3 });
    expect(losses[2]).toBeLessThan(losses[0]);
    peft.dispose();
    fresh.dispose();
  });

  it("load PEFT's file alone for inference: the output is a frozen table and the logits are the same", async () => {
    const peft = trained(PROJ);
    const dir = join(tmp, 'peft-only');
    await saveAdapter(peft, dir);
    rmSync(join(dir, ENCODER_FILE));
    const fresh = new PeftModel(tinyLlama(), { registry });
    await loadAdapter(fresh, dir);
    const encoder = prefixEncoderOf(fresh.adapter('default'));
    expect(encoder.reparameterised).toBe(false);
    expect(encoder.params.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([['embedding.weight', [3, 32]]]);
    expect(fresh.countParameters().trainable).toBe(0);
    expect(logitsDiff(peft, fresh)).toBeLessThan(1e-6);
    peft.dispose();
    fresh.dispose();
  });

  it('refuse a stale encoder file that does not reproduce the saved prefix, and leave the model as it was', async () => {
    const dir = join(tmp, 'stale');
    const first = trained(PROJ);
    await saveAdapter(first, dir);
    const stale = readFileSync(join(dir, ENCODER_FILE));
    const second = trained({ ...PROJ, init_weights: 'zero' });
    await saveAdapter(second, dir);
    writeFileSync(join(dir, ENCODER_FILE), stale);
    const fresh = new PeftModel(tinyLlama(), { registry });
    await expect(loadAdapter(fresh, dir)).rejects.toThrow(
      /peftjs_prompt_encoder.safetensors: the encoder weights do not reproduce prompt_embeddings/,
    );
    expect(fresh.adapterNames).toEqual([]);
    [first, second, fresh].forEach((p) => p.dispose());
  });

  it('of a prefix without projection are only adapter_model.safetensors, as PEFT writes', async () => {
    const peft = trained({ peft_type: 'PREFIX_TUNING', num_virtual_tokens: 3 });
    const dir = join(tmp, 'plain');
    await saveAdapter(peft, dir);
    expect(existsSync(join(dir, ENCODER_FILE))).toBe(false);
    peft.dispose();
  });
});
