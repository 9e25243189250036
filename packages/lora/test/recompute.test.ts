import { describe, it } from 'vitest';
import { expectRecomputationMatches } from '@peftjs/testing';
import { recomputationBatch, recomputationModel, type RecomputationArch } from '@peftjs/testing/fixtures';
import { lora } from '../src/index.js';

const targets: Record<RecomputationArch, string[]> = {
  llama: ['q_proj', 'v_proj', 'down_proj'],
  gpt2: ['c_attn', 'c_fc'],
  bert: ['query', 'value'],
};

describe('LoRA with activation recomputation (gradientCheckpointing)', () => {
  for (const arch of ['llama', 'gpt2', 'bert'] as const) {
    it(`${arch}: a step gives the loss and gradients of the plain step, numTensors flat, a lower peak`, async () => {
      const r = await expectRecomputationMatches({
        method: lora,
        config: {
          target_modules: targets[arch],
          r: 4,
          lora_alpha: 8,
          lora_dropout: 0.1,
          ...(arch === 'bert' ? { task_type: 'SEQ_CLS' } : {}),
        },
        model: () => recomputationModel(arch),
        batch: (T) => recomputationBatch(arch, T),
      });
      console.log(
        `lora ${arch}: grad rel diff ${r.gradRelDiff.toExponential(2)}, peak ${r.peakBytes.plain} → ${r.peakBytes.recompute} bytes`,
      );
    });
  }
});
