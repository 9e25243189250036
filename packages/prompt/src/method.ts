import * as tf from '@tensorflow/tfjs-core';
import { PROMPT_EMBEDDINGS, checkTensorShapes, definePeftMethod, fillFromModel, type AdapterRecord } from '@peftjs/core';
import { PROMPT_TUNING_FIELDS, parsePromptTuningConfig, promptTuningConfigToJSON, type PromptTuningConfig } from './config.js';
import { initialPrompts } from './init.js';
import { PromptEmbeddingHook } from './layer.js';

function hookOf(adapter: AdapterRecord): PromptEmbeddingHook {
  const h = adapter.hooks[0]?.hook;
  if (!(h instanceof PromptEmbeddingHook)) throw new Error(`Prompt Tuning adapter "${adapter.name}" has no prompt embedding`);
  return h;
}

/**
 * Prompt Tuning (Lester et al., 2021): `num_virtual_tokens` trainable embeddings prepended to the
 * input embeddings through the `inputEmbeddings` site; the base model stays frozen.
 */
export const promptTuning = definePeftMethod<PromptTuningConfig>({
  meta: {
    name: 'Prompt Tuning',
    packageName: '@peftjs/prompt',
    reference: 'Lester et al., The Power of Scale for Parameter-Efficient Prompt Tuning, arXiv:2104.08691',
  },
  type: 'PROMPT_TUNING',
  sites: ['inputEmbeddings'],
  // PEFT saves a prompt-learning classifier copy as `base_model.classifier.*`
  statePrefix: 'base_model.',
  notMergeable: 'its virtual tokens are extra inputs, not a change of the base weights',
  config: { parse: parsePromptTuningConfig, toJSON: promptTuningConfigToJSON, fields: PROMPT_TUNING_FIELDS.fields },
  hooks: {
    inject(ctx, config) {
      fillFromModel(config, ctx.dims, PROMPT_TUNING_FIELDS.fail);
      const slot = ctx.site('inputEmbeddings');
      const hook = new PromptEmbeddingHook(config.num_virtual_tokens, initialPrompts(ctx, config, slot.info.path));
      ctx.attach(slot, hook, hook.params, { keyPrefix: 'prompt_encoder.' });
    },
  },
  state: {
    save: (adapter) => new Map([[PROMPT_EMBEDDINGS, hookOf(adapter).virtualTokens]]),
    load(adapter, tensors, file) {
      const table = hookOf(adapter).virtualTokens;
      checkTensorShapes(new Map([[PROMPT_EMBEDDINGS, table.shape]]), tensors, file);
      const t = tensors.get(PROMPT_EMBEDDINGS)!;
      table.assign(tf.tidy(() => tf.cast(t, 'float32')));
    },
  },
});
