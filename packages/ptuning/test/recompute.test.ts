import { prefixTuning } from '@peftjs/prefix';
import { describeRecomputation } from '@peftjs/testing/fixtures';
import { pTuning, pTuningV2Config } from '../src/index.js';

// v1: the prompt encoder (MLP, or LSTM with dropout) runs before the layers; recomputation keeps it on the outer tape
describeRecomputation(pTuning, [
  { arch: 'llama', config: { num_virtual_tokens: 4, encoder_hidden_size: 8 } },
  {
    name: 'gpt2, LSTM encoder with dropout',
    arch: 'gpt2',
    config: { num_virtual_tokens: 4, encoder_hidden_size: 6, encoder_reparameterization_type: 'LSTM', encoder_dropout: 0.1 },
  },
  { arch: 'bert', config: { num_virtual_tokens: 4, encoder_hidden_size: 8, task_type: 'SEQ_CLS' } },
]);

// v2: deep prompts are prefix tuning (run by @peftjs/prefix), with the classifier trained beside them
describeRecomputation(prefixTuning, [
  { name: 'P-Tuning v2, bert SEQ_CLS', arch: 'bert', config: pTuningV2Config({ numVirtualTokens: 3, taskType: 'SEQ_CLS' }) },
  {
    name: 'P-Tuning v2 reparameterized, llama CAUSAL_LM',
    arch: 'llama',
    config: pTuningV2Config({ numVirtualTokens: 3, taskType: 'CAUSAL_LM', reparameterize: true, encoderHiddenSize: 8 }),
  },
]);
