import { describeConformance } from '@peftjs/testing';
import { tinyLlamaSpec } from '@peftjs/testing/fixtures';
import { prefixTuning } from '../src/index.js';

// Trainable counts by hand. emb-conv1d: 1 layer, 1 head of 8: a prefix of n × (1 · 2 · 8).
// Projection: embedding n × 8, Linear 8 → h, Linear h → 16. tiny-llama (GQA): 2 layers, 2 kv heads of 4 → token_dim 8.
describeConformance({
  method: prefixTuning,
  train: { steps: 5, learningRate: 0.05 },
  cases: [
    { model: 'emb-conv1d', config: { num_virtual_tokens: 4 }, trainableParams: 4 * 16 },
    {
      name: 'emb-conv1d with prefix_projection',
      model: 'emb-conv1d',
      config: { num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: 5 },
      trainableParams: 4 * 8 + (8 * 5 + 5) + (5 * 16 + 16),
    },
    { model: tinyLlamaSpec, config: { num_virtual_tokens: 3 }, trainableParams: 3 * 2 * 2 * 8 },
    {
      name: 'tiny-llama (GQA) with prefix_projection',
      model: tinyLlamaSpec,
      config: { num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 4 },
      trainableParams: 3 * 8 + (8 * 4 + 4) + (4 * 32 + 32),
    },
  ],
});
