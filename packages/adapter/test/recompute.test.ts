import { describeRecomputation } from '@peftjs/testing/fixtures';
import { bottleneckAdapter } from '../src/index.js';

// sublayerOutput hooks run inside the recomputed layer: their parameters are explicit gradient inputs
describeRecomputation(bottleneckAdapter, [
  { arch: 'llama', config: { config: 'double_seq_bn', reduction_factor: 4 } },
  { arch: 'gpt2', config: { config: 'par_bn', reduction_factor: 4, scaling: 'learned', ln_before: true, dropout: 0.1 } },
  { arch: 'bert', config: { config: 'seq_bn', reduction_factor: 4, task_type: 'SEQ_CLS' } },
]);
