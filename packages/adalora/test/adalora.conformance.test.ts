import { describeConformance } from '@peftjs/testing';
import { adalora } from '../src/index.js';

// Trainable counts by hand: A [r, in] + E [r, 1] + B [out, r] per targeted layer.
// mlp: lin0 6→8, lin1 8→4.   emb-conv1d: conv (Conv1D) 8→24, lm_head 8→11.
describeConformance({
  method: adalora,
  cases: [
    {
      model: 'mlp',
      config: { target_modules: ['lin0', 'lin1'], init_r: 2, target_r: 1, lora_alpha: 4, total_step: 10 },
      trainableParams: 2 * (6 + 1 + 8) + 2 * (8 + 1 + 4),
    },
    {
      model: 'emb-conv1d',
      config: { target_modules: ['conv', 'lm_head'], init_r: 3, target_r: 2, lora_alpha: 6, lora_dropout: 0.1, total_step: 10 },
      trainableParams: 3 * (8 + 1 + 24) + 3 * (8 + 1 + 11),
    },
  ],
});
