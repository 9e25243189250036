import {
  ENCODER_FILE,
  PROMPT_EMBEDDINGS,
  checkTensorShapes,
  definePeftMethod,
  encodeParameters,
  fillFromModel,
  withDecodedTensorsAsync,
  type AdapterRecord,
} from '@peftjs/core';
import { P_TUNING_FIELDS, parsePTuningConfig, type PTuningConfig } from './config.js';
import { PromptEncoder } from './encoder.js';
import { PromptEncoderHook } from './layer.js';

/** The adapter's prompt encoder. */
export function promptEncoderOf(adapter: AdapterRecord): PromptEncoder {
  const h = adapter.hooks[0]?.hook;
  if (!(h instanceof PromptEncoderHook)) throw new Error(`P-Tuning adapter "${adapter.name}" has no prompt encoder`);
  return h.encoder;
}

/**
 * P-Tuning v1 (Liu et al., 2021, "GPT Understands, Too"): virtual tokens produced by a trainable
 * prompt encoder (MLP or bidirectional LSTM + MLP), prepended through the `inputEmbeddings` site.
 */
export const pTuning = definePeftMethod<PTuningConfig>({
  meta: {
    name: 'P-Tuning',
    packageName: '@peftjs/ptuning',
    reference: 'Liu et al., GPT Understands, Too, arXiv:2103.10385',
  },
  type: 'P_TUNING',
  sites: ['inputEmbeddings'],
  statePrefix: 'base_model.',
  notMergeable: 'its virtual tokens are extra inputs, not a change of the base weights',
  config: { parse: parsePTuningConfig, fields: P_TUNING_FIELDS.fields, floatFields: P_TUNING_FIELDS.floatFields },
  hooks: {
    inject(ctx, config) {
      fillFromModel(config, ctx.dims, P_TUNING_FIELDS.fail);
      config.encoder_hidden_size ??= config.token_dim;
      const encoder = new PromptEncoder(
        {
          numVirtualTokens: config.num_virtual_tokens,
          tokenDim: config.token_dim!,
          hiddenSize: config.encoder_hidden_size!,
          numLayers: config.encoder_num_layers,
        },
        config.encoder_reparameterization_type,
        // PEFT builds only the output table in inference mode (a saved adapter being loaded)
        { dropout: config.encoder_dropout, rng: ctx.rng, tableOnly: config.inference_mode },
      );
      const hook = new PromptEncoderHook(encoder);
      ctx.attach(ctx.site('inputEmbeddings'), hook, encoder.params, { keyPrefix: 'prompt_encoder.' });
    },
  },
  state: {
    save: (adapter) => new Map([[PROMPT_EMBEDDINGS, promptEncoderOf(adapter).outputForSave()]]),
    load(adapter, tensors, file) {
      const encoder = promptEncoderOf(adapter);
      checkTensorShapes(new Map([[PROMPT_EMBEDDINGS, [encoder.sizes.numVirtualTokens, encoder.sizes.tokenDim]]]), tensors, file);
      encoder.useTable(tensors.get(PROMPT_EMBEDDINGS)!);
    },
    extraFiles(adapter) {
      const encoder = promptEncoderOf(adapter);
      return new Map(encoder.reparameterised ? [[ENCODER_FILE, encodeParameters(encoder.params)]] : []);
    },
    extraFileNames: [ENCODER_FILE],
    async loadExtraFiles(adapter, files) {
      const bytes = files.get(ENCODER_FILE);
      if (!bytes) return;
      await withDecodedTensorsAsync(bytes, ENCODER_FILE, (tensors) => promptEncoderOf(adapter).loadEncoder(tensors, ENCODER_FILE));
    },
  },
});
