import { describeRecomputation } from '@peftjs/testing/fixtures';
import { promptTuning } from '../src/index.js';

describeRecomputation(promptTuning, [
  { arch: 'llama', config: { num_virtual_tokens: 4 } },
  { arch: 'gpt2', config: { num_virtual_tokens: 4 } },
  { arch: 'bert', config: { num_virtual_tokens: 4, task_type: 'SEQ_CLS' } },
]);
