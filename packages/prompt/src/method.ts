import * as tf from '@tensorflow/tfjs-core';
import { definePeftMethod, fillFromModel, type AdapterRecord } from '@peftjs/core';
import { parsePromptTuningConfig, promptTuningConfigToJSON, type PromptTuningConfig } from './config.js';
import { initialPrompts } from './init.js';
import { PromptEmbeddingHook } from './layer.js';

/** The one tensor name PEFT saves for prompt learning. */
export const PROMPT_EMBEDDINGS = 'prompt_embeddings';

function fail(field: string, msg: string): never {
  throw new Error(`Prompt Tuning ${field} ${msg}`);
}

function hookOf(adapter: AdapterRecord): PromptEmbeddingHook {
  const h = adapter.hooks[0]?.hook;
  if (!(h instanceof PromptEmbeddingHook)) throw new Error(`Prompt Tuning adapter "${adapter.name}" has no prompt embedding`);
  return h;
}

/** Checks that `tensors` hold exactly `prompt_embeddings` of `shape`; returns it. */
export function promptEmbeddingsOf(tensors: Map<string, tf.Tensor>, shape: readonly number[], file: string): tf.Tensor {
  const problems: string[] = [];
  const t = tensors.get(PROMPT_EMBEDDINGS);
  if (!t) problems.push(`missing ${PROMPT_EMBEDDINGS}`);
  else if (t.shape.join() !== shape.join()) problems.push(`${PROMPT_EMBEDDINGS}: shape [${t.shape}] in file, [${shape}] expected`);
  for (const k of tensors.keys()) if (k !== PROMPT_EMBEDDINGS) problems.push(`unexpected ${k}`);
  if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
  return t!;
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
  prefix: 'prompt_',
  sites: ['inputEmbeddings'],
  // PEFT saves a prompt-learning classifier copy as `base_model.classifier.*`
  statePrefix: 'base_model.',
  notMergeable: 'its virtual tokens are extra inputs, not a change of the base weights',
  config: { parse: parsePromptTuningConfig, toJSON: promptTuningConfigToJSON },
  hooks: {
    inject(ctx, config) {
      fillFromModel(config, ctx.dims, fail);
      const slot = ctx.site('inputEmbeddings');
      const hook = new PromptEmbeddingHook(config.num_virtual_tokens, initialPrompts(ctx, config, slot.info.path));
      ctx.attach(slot, hook, hook.params, { keyPrefix: 'prompt_encoder.' });
    },
  },
  state: {
    save: (adapter) => new Map([[PROMPT_EMBEDDINGS, hookOf(adapter).virtualTokens]]),
    load(adapter, tensors, file) {
      const table = hookOf(adapter).virtualTokens;
      const t = promptEmbeddingsOf(tensors, table.shape, file);
      table.assign(tf.tidy(() => tf.cast(t, 'float32')));
    },
  },
});
