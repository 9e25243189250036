import { describeConformance } from '@peftjs/testing';
import { tinyLlamaSpec } from '@peftjs/testing/fixtures';
import { pTuning } from '../src/index.js';

// Trainable counts by hand (emb-conv1d: token_dim 8; tiny-llama: 16). Embedding n × td, then
// MLP h: (td·h + h) + (h·h + h) + (h·td + td);
// LSTM h, 2 layers: per direction 4h·in + 4h·h + 2·4h (in = td, then 2h), then (2h·2h + 2h) + (2h·td + td).
const mlp = (n: number, td: number, h: number) => n * td + (td * h + h) + (h * h + h) + (h * td + td);
const lstm = (n: number, td: number, h: number) =>
  n * td + 2 * (4 * h * td + 4 * h * h + 8 * h) + 2 * (4 * h * 2 * h + 4 * h * h + 8 * h) + (4 * h * h + 2 * h) + (2 * h * td + td);

// Prompt learning changes the sequence length, so rows of different adapters cannot share a batch.
describeConformance({
  method: pTuning,
  applies: { mixedBatch: false },
  train: { steps: 5, learningRate: 0.02 },
  cases: [
    {
      name: 'emb-conv1d, MLP',
      model: 'emb-conv1d',
      config: { num_virtual_tokens: 4, encoder_hidden_size: 5 },
      trainableParams: mlp(4, 8, 5),
    },
    {
      name: 'emb-conv1d, LSTM',
      model: 'emb-conv1d',
      config: { num_virtual_tokens: 4, encoder_hidden_size: 3, encoder_reparameterization_type: 'LSTM', encoder_dropout: 0.1 },
      trainableParams: lstm(4, 8, 3),
    },
    {
      name: 'tiny-llama (GQA), MLP',
      model: tinyLlamaSpec,
      config: { num_virtual_tokens: 3, encoder_hidden_size: 4 },
      trainableParams: mlp(3, 16, 4),
    },
  ],
});
