import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, loadAdapter, readAdapterConfig } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { loadModel } from '@peftjs/models';
import { FIXTURES, maxAbsDiff, readTensors } from './fixtures.js';

const dir = join(FIXTURES, 'llama/lora');

describe.skipIf(!existsSync(join(dir, 'train_step.safetensors')))('one LoRA training step against PyTorch', () => {
  it("gives PEFT's loss and the gradient of every LoRA parameter within 1e-5", async () => {
    const cfg = await readAdapterConfig(dir);
    const peft = new PeftModel(await loadModel(join(FIXTURES, String(cfg.base_model_name_or_path))), {
      registry: new PeftRegistry().use(lora),
    });
    await loadAdapter(peft, dir, 'default', { trainable: true });
    peft.train();
    const io = readTensors(join(dir, 'io.safetensors'));
    const ref = readTensors(join(dir, 'train_step.safetensors'));
    // PEFT's labels when the fixture has them (padded positions -100), else input_ids as the README says
    const labels = ref.get('labels') ?? io.get('input_ids')!;
    const batch = { inputIds: io.get('input_ids')!, attentionMask: io.get('attention_mask')!, labels };
    const params = peft.trainableParameters();
    // the trainable set is the fixture's: exactly the parameters PyTorch has a gradient for
    const expected = [...ref.keys()]
      .filter((k) => k.startsWith('grad.'))
      .map((k) => k.slice('grad.'.length))
      .sort();
    expect(params.map(([name]) => `base_model.model.${name}`).sort()).toEqual(expected);
    const { value, grads } = tf.variableGrads(
      () => peft.forward(batch).loss as tf.Scalar,
      params.map(([, v]) => v),
    );
    expect(Math.abs((await value.data())[0]! - (await ref.get('loss')!.data())[0]!)).toBeLessThan(1e-5);
    for (const [name, v] of params) {
      const want = ref.get(`grad.base_model.model.${name}`)!;
      expect(await maxAbsDiff(grads[v.name], want), name).toBeLessThan(1e-5);
    }
  });
});
