import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lora } from '@peftjs/lora';
import { loadModel, type LlamaForCausalLM } from '@peftjs/models';
import { expectRecomputationMatches } from '@peftjs/testing';
import { recomputationBatch } from '@peftjs/testing/fixtures';
import '../src/register.js';
import { prepareModelForKbitTraining } from '../src/prepare.js';
import { QLORA, QLORA_FOLDERS } from './helpers.js';

describe.skipIf(QLORA_FOLDERS.length === 0)('prepareModelForKbitTraining', () => {
  it('freezes every base parameter, keeps them float32, and turns activation recomputation on by default (PEFT)', async () => {
    const base = (await loadModel(join(QLORA, QLORA_FOLDERS[0]))) as LlamaForCausalLM;
    base.requiresGrad(true);
    const r = prepareModelForKbitTraining(base);
    const manifest = JSON.parse(readFileSync(join(QLORA, QLORA_FOLDERS[0], 'manifest.json'), 'utf8')) as { modules: unknown[] };
    expect(r.quantizedLinears).toBe(manifest.modules.length);
    expect(r.frozen).toBe(base.namedParameters().length);
    expect(r.gradientCheckpointing).toBe(true);
    expect(base.gradientCheckpointing).toBe(true);
    for (const [, v] of base.namedParameters()) {
      expect(v.trainable).toBe(false);
      expect(v.dtype).toBe('float32');
    }
    expect(prepareModelForKbitTraining(base, { gradientCheckpointing: false }).gradientCheckpointing).toBe(false);
    expect(base.gradientCheckpointing).toBe(false);
    base.dispose();
  });

  it('LoRA on the 4-bit base: a recomputed step gives the loss and gradients of the plain one, with a lower peak', async () => {
    const dir = join(QLORA, QLORA_FOLDERS[0]);
    const probe = (await loadModel(dir)) as LlamaForCausalLM;
    const vocab = probe.dims.vocabSize;
    probe.dispose();
    const r = await expectRecomputationMatches({
      method: lora,
      config: { target_modules: ['q_proj', 'v_proj'], r: 4, lora_alpha: 8, lora_dropout: 0.1 },
      model: async () => {
        const base = (await loadModel(dir)) as LlamaForCausalLM;
        prepareModelForKbitTraining(base);
        return base;
      },
      batch: (T) => recomputationBatch('llama', T, vocab),
    });
    console.log(
      `qlora recompute: gradient rel diff ${r.gradRelDiff.toExponential(2)}, peak bytes ${r.peakBytes.plain} → ${r.peakBytes.recompute}`,
    );
  });
});
