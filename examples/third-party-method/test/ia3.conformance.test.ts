import { describeConformance } from '@peftjs/testing';
import { ia3 } from '../src/index.js';

// ℓ per layer: [out, 1] where the output is scaled, [1, in] for feed-forward layers.
// mlp: lin0 6→8 (output, has a bias), lin1 8→4 (feed-forward).
// emb-conv1d: conv 8→24 (Conv1D, output, non-zero bias), lm_head 8→11 (feed-forward).
describeConformance({
  method: ia3,
  cases: [
    { model: 'mlp', config: { target_modules: ['lin0', 'lin1'], feedforward_modules: ['lin1'] }, trainableParams: 8 + 8 },
    { model: 'emb-conv1d', config: { target_modules: ['conv', 'lm_head'], feedforward_modules: ['lm_head'] }, trainableParams: 24 + 8 },
    {
      name: 'mlp, output scaling only, with modules_to_save',
      model: 'mlp',
      config: { target_modules: ['lin0'], feedforward_modules: [], modules_to_save: ['lin1'] },
      trainableParams: 8 + (4 * 8 + 4),
    },
  ],
});
