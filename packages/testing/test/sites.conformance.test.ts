import { describeConformance } from '../src/index.js';
import { toyBottleneck, toyPrefix, toyPrompt } from './toy-methods.js';

// Prompt tuning makes the sequence longer: rows of a mixed batch cannot be joined.
describeConformance({
  method: toyPrompt,
  applies: { mixedBatch: false },
  cases: [{ model: 'emb-conv1d', config: { num_virtual_tokens: 3 }, trainableParams: 3 * 8 }],
});

describeConformance({
  method: toyPrefix,
  cases: [{ model: 'emb-conv1d', config: { num_virtual_tokens: 2 }, trainableParams: 2 * (2 * 8) }],
});

describeConformance({
  method: toyBottleneck,
  cases: [{ model: 'mlp', config: {}, trainableParams: 2 * (8 * 2 + 2 * 8) }],
});
