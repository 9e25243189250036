import { describeRecomputation } from '@peftjs/testing/fixtures';
import { adalora } from '../src/index.js';

describeRecomputation(adalora, [
  {
    arch: 'llama',
    config: { target_modules: ['q_proj', 'v_proj'], init_r: 4, target_r: 2, lora_alpha: 8, lora_dropout: 0.1, total_step: 10 },
  },
  { arch: 'gpt2', config: { target_modules: ['c_attn'], init_r: 4, target_r: 2, lora_alpha: 8, total_step: 10 } },
  {
    arch: 'bert',
    config: { target_modules: ['query', 'value'], init_r: 4, target_r: 2, lora_alpha: 8, total_step: 10, task_type: 'SEQ_CLS' },
  },
]);
