import { lora } from '@peftjs/lora';
import { describeConformance } from '@peftjs/testing';
import { MLP_4BIT } from './mlp4bit.js';

// LoRA on a 4-bit base: lin0 [16, 64] is NF4 (double quant), lin1 [4, 16] the float head.
// Merging into packed weights is qlora's own operation (mergeToFloat / mergeRequantized, tested in merge.test.ts).
describeConformance({
  name: 'LoRA on a 4-bit base',
  method: lora,
  applies: { merge: false },
  cases: [
    { model: MLP_4BIT, config: { target_modules: ['lin0'], r: 2, lora_alpha: 4 }, trainableParams: 2 * (64 + 16) },
    {
      name: 'mlp-4bit, lin0 and the float head, dropout',
      model: MLP_4BIT,
      config: { target_modules: ['lin0', 'lin1'], r: 4, lora_alpha: 8, lora_dropout: 0.1 },
      trainableParams: 4 * (64 + 16) + 4 * (16 + 4),
    },
  ],
});
