import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeftModel, PeftRegistry, type ModelOutput } from '@peftjs/core';
import { subsetTask, tinyLlama } from '@peftjs/testing/fixtures';
import { lora } from '@peftjs/lora';
import type { ModelBatch } from '@peftjs/models';
import { setupWebGPU } from '../src/index.js';
import { releaseWebGPU } from '../src/release.js';

beforeAll(async () => {
  await setupWebGPU();
  tf.env().set('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD', 0);
});
afterAll(() => releaseWebGPU('cpu')); // Dawn must be idle before the worker exits

interface GpuMemory extends tf.MemoryInfo {
  numBytesInGPU: number;
  numBytesAllocatedInGPU: number;
}

describe('memory on webgpu', () => {
  it('50 LoRA training steps (fused kernel, Adam): numTensors, numBytesInGPU and the buffer pool stay flat; the loss falls', async () => {
    const peft = new PeftModel(tinyLlama(5), { registry: new PeftRegistry().use(lora) }) as PeftModel<ModelBatch, ModelOutput>;
    peft.addAdapter('default', { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
    peft.train();
    const batch = subsetTask(3, 4, 8, 64);
    const optimizer = tf.train.adam(0.01);
    const vars = peft.trainableParameters().map(([, v]) => v);
    const losses: number[] = [];
    const seen: GpuMemory[] = [];
    for (let i = 0; i < 50; i++) {
      const cost = optimizer.minimize(() => peft.forward(batch).loss as tf.Scalar, true, vars)!;
      losses.push((await cost.data())[0]!);
      cost.dispose();
      seen.push(tf.memory() as GpuMemory);
    }
    const [early, late] = [seen[4]!, seen[49]!];
    console.log(
      `[memory] step 5: ${early.numTensors} tensors, ${early.numBytesInGPU} B in use, ${early.numBytesAllocatedInGPU} B pooled; step 50: ${late.numTensors}, ${late.numBytesInGPU}, ${late.numBytesAllocatedInGPU}; loss ${losses[0]!.toFixed(4)} → ${losses[49]!.toFixed(4)}`,
    );
    expect(late.numTensors).toBe(early.numTensors);
    expect(late.numBytesInGPU).toBe(early.numBytesInGPU);
    expect(late.numBytesAllocatedInGPU).toBe(early.numBytesAllocatedInGPU);
    expect(losses[49]!).toBeLessThan(losses[0]! * 0.8);
    optimizer.dispose();
  });
});
