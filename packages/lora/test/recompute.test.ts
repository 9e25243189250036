import { describeRecomputation } from '@peftjs/testing/fixtures';
import { lora } from '../src/index.js';

// dropout on the adapter and on the base layers: recomputation must draw the same masks
describeRecomputation(lora, [
  { arch: 'llama', config: { target_modules: ['q_proj', 'v_proj', 'down_proj'], r: 4, lora_alpha: 8, lora_dropout: 0.1 } },
  { arch: 'gpt2', config: { target_modules: ['c_attn', 'c_fc'], r: 4, lora_alpha: 8, lora_dropout: 0.1 } },
  { arch: 'bert', config: { target_modules: ['query', 'value'], r: 4, lora_alpha: 8, task_type: 'SEQ_CLS' } },
  { name: 'llama, bias "all"', arch: 'llama', config: { target_modules: ['q_proj'], r: 2, lora_alpha: 4, bias: 'all' } },
]);
