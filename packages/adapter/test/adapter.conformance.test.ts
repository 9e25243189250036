import { describeConformance } from '@peftjs/testing';
import { bottleneckAdapter } from '../src/index.js';

// The mlp's sublayerOutput sites see hidden size 8; reduction_factor 4 → bottleneck m = 2.
// One adapter: W_down [2, 8] + b_down [2] + W_up [8, 2] + b_up [8] = 2·m·d + m + d = 42.
describeConformance({
  method: bottleneckAdapter,
  cases: [
    {
      name: 'mlp, Houlsby (double_seq_bn)',
      model: 'mlp',
      config: { config: 'double_seq_bn', reduction_factor: 4 },
      trainableParams: 2 * 42,
    },
    { name: 'mlp, Pfeiffer (seq_bn)', model: 'mlp', config: { config: 'seq_bn', reduction_factor: 4 }, trainableParams: 42 },
    {
      name: 'mlp, parallel (par_bn) with learned scaling, new LayerNorms and dropout',
      model: 'mlp',
      config: { config: 'par_bn', reduction_factor: 4, scaling: 'learned', ln_before: true, ln_after: true, dropout: 0.1 },
      trainableParams: 42 + 1 + 2 * 16,
    },
  ],
});
