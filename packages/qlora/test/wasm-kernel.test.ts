import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@peftjs/backend-node';
import { loadModel, type LlamaForCausalLM } from '@peftjs/models';
import '../src/register.js';
import { linear4bitModules } from '../src/index.js';
import { QLORA, QLORA_FOLDERS, floatFolderOf, maxAbsDiff, probeLogits } from './helpers.js';

/** The 4-bit folders on wasm, where `PeftNf4MatMul` runs backend-node's fused kernel rather than the op's fallback. */
describe.skipIf(QLORA_FOLDERS.length === 0)('4-bit folders on the wasm backend (fused NF4 kernel)', () => {
  beforeAll(async () => {
    await setupBackend({ prefer: 'wasm' });
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const folder of QLORA_FOLDERS) {
    it(`${folder}: logits equal the dequantized float model's (1e-4); no tensor leak`, async () => {
      expect(tf.getKernel('PeftNf4MatMul', 'wasm')).toBeDefined();
      const dir = join(QLORA, folder);
      const q = (await loadModel(dir)) as LlamaForCausalLM;
      expect(linear4bitModules(q).length).toBeGreaterThan(0);
      const floatDir = floatFolderOf(dir);
      const f = (await loadModel(floatDir)) as LlamaForCausalLM;
      const before = tf.memory().numTensors;
      const profile = await tf.profile(() => probeLogits(q, q.config.vocabSize));
      expect(profile.kernelNames).toContain('PeftNf4MatMul'); // the kernel ran (the fallback runs tfjs ops under other names)
      const a = profile.result as tf.Tensor;
      const b = probeLogits(f, f.config.vocabSize);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
      tf.dispose([a, b]);
      expect(tf.memory().numTensors).toBe(before);
      q.dispose();
      f.dispose();
      rmSync(floatDir, { recursive: true });
    });
  }
});
