import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ADAPTER_WEIGHTS_NAME, PeftModel, PeftRegistry, Rng, loadAdapter, saveAdapter, type ModelOutput } from '@peftjs/core';
import { parseSafetensors } from '@peftjs/core/io';
import type { ModelBatch } from '@peftjs/models';
import { maxAbsDiff } from '@peftjs/testing';
import { logitsDiff, readTensors, tinyLlama, trainTinySubsetTask } from '@peftjs/testing/fixtures';
import { pTuning, promptEncoderOf } from '../src/index.js';
import { ENCODER_FILE } from '@peftjs/core';

const tmp = mkdtempSync(join(tmpdir(), 'peftjs-ptuning-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const registry = new PeftRegistry().use(pTuning);

function trained(config: Record<string, unknown>): PeftModel<ModelBatch, ModelOutput> {
  const peft = new PeftModel(tinyLlama(), { registry, rng: new Rng(1) });
  peft.addAdapter('default', { peft_type: 'P_TUNING', num_virtual_tokens: 3, encoder_hidden_size: 6, ...config });
  trainTinySubsetTask(peft, { seed: 1, steps: 2 });
  return peft;
}

for (const type of ['MLP', 'LSTM'] as const) {
  describe(`files of a P-Tuning ${type} adapter`, () => {
    it("write PEFT's adapter_model.safetensors (only the encoder's output) and our encoder file with PEFT's names beside it", async () => {
      const peft = trained({ encoder_reparameterization_type: type });
      const dir = join(tmp, `${type}-save`);
      await saveAdapter(peft, dir);
      const saved = readTensors(join(dir, ADAPTER_WEIGHTS_NAME));
      expect([...saved.keys()]).toEqual(['prompt_embeddings']);
      const output = tf.tidy(() => promptEncoderOf(peft.adapter('default')).output(false));
      expect(maxAbsDiff(saved.get('prompt_embeddings')!, output)).toBe(0);
      const encoderFile = parseSafetensors(new Uint8Array(readFileSync(join(dir, ENCODER_FILE))));
      const names = promptEncoderOf(peft.adapter('default'))
        .params.namedParameters()
        .map(([n]) => n);
      expect([...encoderFile.tensors.keys()].sort()).toEqual(names.sort());
      tf.dispose([output, ...saved.values()]);
      peft.dispose();
    });

    it('load with the encoder file for training: the encoder is back, trainable, gives the same output and trains on', async () => {
      const peft = trained({ encoder_reparameterization_type: type });
      const dir = join(tmp, `${type}-resume`);
      await saveAdapter(peft, dir);
      const fresh = new PeftModel(tinyLlama(), { registry });
      await loadAdapter(fresh, dir, 'default', { trainable: true });
      expect(fresh.countParameters().trainable).toBe(peft.countParameters().trainable);
      expect(logitsDiff(peft, fresh)).toBe(0);
      const losses = trainTinySubsetTask(fresh, { seed: 3, steps: 3 });
      expect(losses[2]).toBeLessThan(losses[0]);
      peft.dispose();
      fresh.dispose();
    });

    it("load PEFT's file alone for inference: the output is a frozen table [n, token_dim] and the logits are the same", async () => {
      const peft = trained({ encoder_reparameterization_type: type });
      const dir = join(tmp, `${type}-peft-only`);
      await saveAdapter(peft, dir);
      rmSync(join(dir, ENCODER_FILE));
      const fresh = new PeftModel(tinyLlama(), { registry });
      await loadAdapter(fresh, dir);
      const encoder = promptEncoderOf(fresh.adapter('default'));
      expect(encoder.params.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([['embedding.weight', [3, 16]]]);
      expect(fresh.countParameters().trainable).toBe(0);
      expect(logitsDiff(peft, fresh)).toBeLessThan(1e-6);
      peft.dispose();
      fresh.dispose();
    });
  });
}
