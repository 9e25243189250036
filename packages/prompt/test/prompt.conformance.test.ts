import { describeConformance } from '@peftjs/testing';
import { tinyLlamaSpec } from '@peftjs/testing/fixtures';
import { promptTuning } from '../src/index.js';

// Prompt learning changes the sequence length, so rows of different adapters cannot share a batch.
// Trainable counts by hand: n virtual tokens × hidden size (+ nothing else: the base is frozen).
describeConformance({
  method: promptTuning,
  applies: { mixedBatch: false },
  train: { steps: 5, learningRate: 0.05 },
  cases: [
    { model: 'emb-conv1d', config: { num_virtual_tokens: 4 }, trainableParams: 4 * 8 },
    {
      name: 'emb-conv1d, SAMPLE_VOCAB init',
      model: 'emb-conv1d',
      config: { num_virtual_tokens: 3, prompt_tuning_init: 'SAMPLE_VOCAB' },
      trainableParams: 3 * 8,
    },
    { model: tinyLlamaSpec, config: { num_virtual_tokens: 5 }, trainableParams: 5 * 16 },
  ],
});
