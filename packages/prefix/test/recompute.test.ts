import { describeRecomputation } from '@peftjs/testing/fixtures';
import { prefixTuning } from '../src/index.js';

// the prefix keys and values come from a trainable encoder outside the layers: explicit inputs of each recomputed layer
describeRecomputation(prefixTuning, [
  { arch: 'llama', config: { num_virtual_tokens: 3 } },
  { name: 'llama, prefix_projection', arch: 'llama', config: { num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 8 } },
  { arch: 'gpt2', config: { num_virtual_tokens: 3 } },
  { arch: 'bert', config: { num_virtual_tokens: 3, task_type: 'SEQ_CLS' } },
]);
