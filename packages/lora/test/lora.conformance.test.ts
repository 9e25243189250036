import { lora } from '../src/index.js';
import { describeConformance } from '@peftjs/testing';

// Trainable counts by hand: A [r, in] + B [out, r] per targeted layer.
// mlp: lin0 6→8, lin1 8→4.   emb-conv1d: emb 11×8 (A [r, 11], B [8, r]), conv 8→24, lm_head 8→11.
describeConformance({
  method: lora,
  cases: [
    {
      model: 'mlp',
      config: { target_modules: ['lin0', 'lin1'], r: 2, lora_alpha: 4 },
      trainableParams: 2 * (6 + 8) + 2 * (8 + 4),
    },
    {
      model: 'emb-conv1d',
      config: { target_modules: ['emb', 'conv', 'lm_head'], r: 2, lora_alpha: 4 },
      trainableParams: 2 * (11 + 8) + 2 * (8 + 24) + 2 * (8 + 11),
    },
    {
      name: 'emb-conv1d with dropout, lora_bias and rsLoRA',
      model: 'emb-conv1d',
      config: { target_modules: ['conv', 'lm_head'], r: 4, lora_alpha: 8, lora_dropout: 0.1, lora_bias: true, use_rslora: true },
      trainableParams: 4 * (8 + 24) + 24 + 4 * (8 + 11) + 11,
    },
    {
      name: 'mlp with modules_to_save',
      model: 'mlp',
      config: { target_modules: ['lin0'], r: 2, lora_alpha: 4, modules_to_save: ['lin1'] },
      trainableParams: 2 * (6 + 8) + (4 * 8 + 4),
    },
  ],
});
