import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, Rng, type ModelOutput } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { Trainer } from '@peftjs/train';
import { adalora, orthogonalRegularization, rankAllocator, type AdaLoraConfig } from '../src/index.js';
import { DeepMlp, collate, teacherTask, type Example, type RegressionBatch } from './deep-mlp.js';

afterEach(() => tf.disposeVariables());

const registry = new PeftRegistry().use(adalora).use(lora);
const TARGETS = ['layers.0', 'layers.1', 'layers.2', 'layers.3'];
// The teacher differs from the base model by a rank-4 change of the output layer (layers.3) only.
const task = teacherTask({ layer: 3, rank: 4, size: 384, seed: 11 });
const train = task.slice(0, 256);
const validation = () => task.slice(256);

const STEPS = 240;

async function run(
  config: Record<string, unknown>,
): Promise<{ peft: PeftModel<RegressionBatch, ModelOutput>; valLoss: number; events: Array<Record<string, unknown>> }> {
  const peft = new PeftModel(new DeepMlp(), { registry, rng: new Rng(5) });
  peft.addAdapter('default', config);
  const events: Array<Record<string, unknown>> = [];
  const trainer = new Trainer<Example, RegressionBatch>({
    model: peft,
    trainData: train,
    evalData: validation(),
    collate,
    batchSize: 32,
    maxSteps: STEPS,
    learningRate: 2e-2,
    schedule: 'constant',
    maxGradNorm: null,
    adamw: { weightDecay: 0 },
    onEvent: (e) => events.push(e as unknown as Record<string, unknown>),
  });
  const result = await trainer.train();
  trainer.dispose();
  return { peft, valLoss: result.lastEval!.loss, events };
}

describe('the rank allocator at work (Trainer)', () => {
  it('gives the layer that matters the most ranks, keeps exactly the target budget, and beats LoRA of the same final budget', async () => {
    // orth_reg_weight 0.01: this regression loss is ~1e-2, a 0.5-weighted regulariser would swamp it
    const config = {
      peft_type: 'ADALORA',
      target_modules: TARGETS,
      init_r: 4,
      target_r: 1,
      lora_alpha: 4,
      total_step: STEPS,
      tinit: 40,
      tfinal: 60,
      deltaT: 10,
      orth_reg_weight: 0.01,
    };
    const ada = await run(config);
    const pattern = (ada.peft.config() as AdaLoraConfig).rank_pattern!;
    const ranks = TARGETS.map((t) => pattern[`${t}.lora_E`].filter(Boolean).length);
    console.log(`[adalora] final ranks ${TARGETS.map((t, i) => `${t}=${ranks[i]}`).join(' ')}; val_loss ${ada.valLoss.toFixed(5)}`);
    expect(ranks.reduce((a, b) => a + b, 0)).toBe(4); // target_r × modules
    expect(Math.max(...ranks)).toBe(ranks[3]);
    expect(ranks[3]).toBeGreaterThan(1);
    expect(new Set(ranks).size).toBeGreaterThan(1);
    const lr = await run({ peft_type: 'LORA', target_modules: TARGETS, r: 1, lora_alpha: 1 });
    console.log(`[adalora] val_loss AdaLoRA ${ada.valLoss.toFixed(5)} vs LoRA r=1 ${lr.valLoss.toFixed(5)} (same final rank budget 4)`);
    expect(ada.valLoss).toBeLessThan(lr.valLoss);
  });
});

describe('AdaLoRA and the Trainer', () => {
  it("adds the orthogonal regulariser to the loss through the Trainer's extraLoss hook", async () => {
    const peft = new PeftModel(new DeepMlp(), { registry, rng: new Rng(5) });
    peft.addAdapter('default', { peft_type: 'ADALORA', target_modules: TARGETS, init_r: 4, target_r: 2, total_step: 3 });
    const expected = orthogonalRegularization(peft).dataSync()[0];
    const events: Array<{ type: string; extra_loss?: number }> = [];
    const trainer = new Trainer<Example, RegressionBatch>({
      model: peft,
      trainData: train,
      collate,
      batchSize: 32,
      maxSteps: 1,
      onEvent: (e) => events.push(e),
    });
    await trainer.train();
    trainer.dispose();
    expect(expected).toBeGreaterThan(0.4); // 0.5 · ‖AAᵀ − I‖ ≈ 0.5 at N(0, 0.02) init
    expect(events[0].extra_loss).toBeCloseTo(expected, 5);
  });

  it('runs the allocator every step: the budget follows the cubic schedule and E is masked to it', async () => {
    const peft = new PeftModel(new DeepMlp(), { registry, rng: new Rng(5) });
    peft.addAdapter('default', {
      peft_type: 'ADALORA',
      target_modules: TARGETS,
      init_r: 4,
      target_r: 1,
      total_step: 8,
      tinit: 1,
      tfinal: 2,
      deltaT: 1,
    });
    const kept: number[] = [];
    const nonZeroE = () =>
      peft
        .adapter('default')
        .hooks.reduce((n, h) => n + [...(h.params.parameter('lora_E')!.dataSync() as Float32Array)].filter((v) => v !== 0).length, 0);
    const trainer = new Trainer<Example, RegressionBatch>({
      model: peft,
      trainData: train,
      collate,
      batchSize: 32,
      maxSteps: 8,
      learningRate: 1e-2,
      hooks: { onStepEnd: () => void kept.push(nonZeroE()) },
    });
    await trainer.train();
    trainer.dispose();
    const alloc = rankAllocator(peft);
    // budgets at steps 0…7: warm-up (≤ tinit), b = ⌊12·(1 − (t−1)/5)³ + 4⌋, then the target 4
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((t) => alloc.schedule(t, 8).budget)).toEqual([16, 16, 10, 6, 4, 4, 4, 4]);
    // onStepEnd runs after the allocation of its step: exactly the budget's ranks keep a non-zero E
    expect(kept).toEqual([16, 16, 10, 6, 4, 4, 4, 4]);
  });
});
