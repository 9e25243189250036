import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, loadAdapter } from '@peftjs/core';
import { entryToTensor, parseSafetensors } from '@peftjs/core/io';
import { loadModel } from '@peftjs/models';
import { adalora, type AdaLoraConfig, type AdaLoraHook } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURES = resolve(process.env.PEFTJS_FIXTURES ?? join(here, '../../../../shared/fixtures'));
const registry = new PeftRegistry().use(adalora);

function readTensors(file: string): Map<string, tf.Tensor> {
  const parsed = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  return new Map([...parsed.tensors].map(([n, e]) => [n, entryToTensor(e, file)]));
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe.skipIf(!existsSync(join(FIXTURES, 'llama/adalora')))('adapters PEFT 0.10 saved', () => {
  for (const name of ['adalora', 'adalora_pruned']) {
    it(`llama/${name}: loads and gives PEFT's logits within 1e-4, merged too`, async () => {
      const dir = join(FIXTURES, 'llama', name);
      const peft = new PeftModel(await loadModel(join(FIXTURES, 'llama/base')), { registry });
      await loadAdapter(peft, dir);
      const io = readTensors(join(dir, 'io.safetensors'));
      const batch = { inputIds: io.get('input_ids')!, attentionMask: io.get('attention_mask')! };
      const logits = () => tf.tidy(() => peft.forward(batch as never).logits as tf.Tensor);
      const unmerged = maxDiff(logits(), io.get('logits_peft')!);
      peft.merge();
      const merged = maxDiff(logits(), io.get('logits_merged')!);
      console.log(`[adalora parity] llama/${name}: max abs diff ${unmerged.toExponential(2)}, merged ${merged.toExponential(2)}`);
      expect(unmerged).toBeLessThan(1e-4);
      expect(merged).toBeLessThan(1e-4);
    });
  }

  it('sizes a pruned adapter by rank_pattern (ranks 2, 3, 1, 2) and keeps the scale α/(init_r + 1e-5)', async () => {
    const peft = new PeftModel(await loadModel(join(FIXTURES, 'llama/base')), { registry });
    await loadAdapter(peft, join(FIXTURES, 'llama/adalora_pruned'));
    const hooks = peft.adapter('default').hooks.map((h) => h.hook as AdaLoraHook);
    expect(hooks.map((h) => h.r)).toEqual([2, 3, 1, 2]);
    expect(hooks.map((h) => h.rankNum)).toEqual([4, 4, 4, 4]);
    expect(hooks[0].scale).toBeCloseTo(8 / (4 + 1e-5), 10);
    expect(Object.keys((peft.config() as AdaLoraConfig).rank_pattern!)).toHaveLength(4);
  });
});
