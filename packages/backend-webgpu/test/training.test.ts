import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeftModel, PeftRegistry, Rng, type ModelOutput, type PeftMethod } from '@peftjs/core';
import type { ModelBatch } from '@peftjs/models';
import { TINY_LLAMA_CONFIG, tinyLlama } from '@peftjs/testing/fixtures';
import { lora } from '@peftjs/lora';
import { adalora } from '@peftjs/adalora';
import { promptTuning } from '@peftjs/prompt';
import { prefixTuning } from '@peftjs/prefix';
import { pTuning } from '@peftjs/ptuning';
import { bottleneckAdapter } from '@peftjs/adapter';
import { setupWebGPU } from '../src/index.js';
import { releaseWebGPU } from '../src/release.js';

/** One config per method package, on the tiny GQA LLaMA (vocabulary 64, hidden 16, 2 layers). */
const CASES: Array<[string, PeftMethod, Record<string, unknown>]> = [
  ['lora', lora, { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'] }],
  ['adalora', adalora, { peft_type: 'ADALORA', init_r: 4, target_r: 2, total_step: 10, target_modules: ['q_proj', 'v_proj'] }],
  ['prompt', promptTuning, { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 3, task_type: 'CAUSAL_LM' }],
  [
    'prefix',
    prefixTuning,
    { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 3, task_type: 'CAUSAL_LM', prefix_projection: true, encoder_hidden_size: 8 },
  ],
  ['ptuning', pTuning, { peft_type: 'P_TUNING', num_virtual_tokens: 3, task_type: 'CAUSAL_LM', encoder_hidden_size: 8 }],
  ['adapter', bottleneckAdapter, { peft_type: 'BOTTLENECK_ADAPTER', config: 'pfeiffer', reduction_factor: 4 }],
];

function batch(): ModelBatch {
  const rng = new Rng(7);
  const [B, T] = [2, 6];
  const ids = Array.from({ length: B * T }, () => rng.int(TINY_LLAMA_CONFIG.vocab_size));
  const mask = ids.map((_, i) => (i >= B * T - 2 ? 0 : 1));
  return {
    inputIds: tf.tensor2d(ids, [B, T], 'int32'),
    attentionMask: tf.tensor2d(mask, [B, T], 'int32'),
    labels: tf.tensor2d(
      ids.map((id, i) => (mask[i] ? id : -100)),
      [B, T],
      'int32',
    ),
  };
}

/** The model with the adapter, its trainable parameters set to seeded values (so every gradient is non-zero). */
function build(method: PeftMethod, config: Record<string, unknown>): PeftModel<ModelBatch, ModelOutput> {
  const peft = new PeftModel(tinyLlama(3), { registry: new PeftRegistry().use(method) }) as PeftModel<ModelBatch, ModelOutput>;
  peft.addAdapter('default', config);
  const rng = new Rng(11);
  for (const [, v] of peft.trainableParameters()) {
    v.assign(
      tf.tensor(
        Array.from({ length: v.size }, () => rng.normal() * 0.3),
        v.shape,
        'float32',
      ),
    );
  }
  return peft;
}

/** Loss and gradients (plain arrays) of one training step on the active backend. */
async function step(
  method: PeftMethod,
  config: Record<string, unknown>,
): Promise<{ loss: number; grads: Map<string, Float32Array>; gpuBytes: number }> {
  const peft = build(method, config);
  const b = batch();
  peft.train();
  const params = peft.trainableParameters();
  const { value, grads } = tf.variableGrads(
    () => peft.forward(b).loss as tf.Scalar,
    params.map(([, v]) => v),
  );
  const out = new Map<string, Float32Array>();
  for (const [name, v] of params) out.set(name, (await grads[v.name]!.data()) as Float32Array);
  const loss = (await value.data())[0]!;
  const gpuBytes = (tf.memory() as { numBytesInGPU?: number }).numBytesInGPU ?? 0;
  tf.dispose([value, ...Object.values(grads), b.inputIds, b.attentionMask!, b.labels!]);
  peft.dispose?.();
  return { loss, grads: out, gpuBytes };
}

beforeAll(async () => {
  await setupWebGPU();
  // tfjs runs ops on small CPU-resident inputs on the CPU (below 1000 elements); every op of this tiny model would.
  tf.env().set('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD', 0);
});
afterAll(() => releaseWebGPU('cpu')); // Dawn must be idle before the worker exits

describe('a training step of every method on webgpu equals the cpu backend', () => {
  for (const [name, method, config] of CASES) {
    it(`${name}: loss within 1e-4, every gradient within 1e-4 relative`, async () => {
      await tf.setBackend('cpu');
      const want = await step(method, config);
      await tf.setBackend('webgpu');
      const got = await step(method, config);
      expect(got.gpuBytes, 'the step ran on the GPU').toBeGreaterThan(0);
      expect(Math.abs(got.loss - want.loss), `loss ${got.loss} vs ${want.loss}`).toBeLessThan(1e-4);
      expect([...got.grads.keys()]).toEqual([...want.grads.keys()]);
      let worst = 0;
      for (const [p, g] of want.grads) {
        const scale = Math.max(...g.map(Math.abs));
        expect(scale, `${p}: a zero gradient tests nothing`).toBeGreaterThan(0);
        const d = got.grads.get(p)!;
        let err = 0;
        for (let i = 0; i < g.length; i++) err = Math.max(err, Math.abs(d[i]! - g[i]!));
        worst = Math.max(worst, err / scale);
        expect(err / scale, p).toBeLessThan(1e-4);
      }
      console.log(
        `[webgpu-train] ${name}: loss diff ${Math.abs(got.loss - want.loss).toExponential(2)}, worst gradient relative ${worst.toExponential(2)} over ${want.grads.size} parameters`,
      );
    });
  }
});
