import * as tf from '@tensorflow/tfjs-core';
import {
  ENCODER_FILE,
  PROMPT_EMBEDDINGS,
  checkTensorShapes,
  definePeftMethod,
  encodeParameters,
  withDecodedTensorsAsync,
  type AdapterRecord,
} from '@peftjs/core';
import {
  PREFIX_TUNING_FIELDS,
  fillPrefixSizes,
  parsePrefixTuningConfig,
  prefixTuningConfigToJSON,
  type PrefixTuningConfig,
} from './config.js';
import { PrefixEncoder } from './encoder.js';
import { PrefixKVHook } from './layer.js';

/** The adapter's shared prefix encoder. */
export function prefixEncoderOf(adapter: AdapterRecord): PrefixEncoder {
  const h = adapter.hooks[0]?.hook;
  if (!(h instanceof PrefixKVHook)) throw new Error(`Prefix Tuning adapter "${adapter.name}" has no prefix`);
  return h.encoder;
}

/**
 * Prefix Tuning (Li & Liang, 2021): trainable keys and values prepended at every layer through
 * the `attentionKV` sites, optionally reparameterised by an MLP (`prefix_projection`). Also
 * P-Tuning v2's deep prompts (Liu et al., 2022), which PEFT saves as this type.
 */
export const prefixTuning = definePeftMethod<PrefixTuningConfig>({
  meta: {
    name: 'Prefix Tuning',
    packageName: '@peftjs/prefix',
    reference: 'Li & Liang, Prefix-Tuning: Optimizing Continuous Prompts for Generation, arXiv:2101.00190',
  },
  type: 'PREFIX_TUNING',
  sites: ['attentionKV'],
  statePrefix: 'base_model.',
  notMergeable: 'its prefix keys and values are extra attention inputs, not a change of the base weights',
  config: { parse: parsePrefixTuningConfig, toJSON: prefixTuningConfigToJSON, fields: PREFIX_TUNING_FIELDS.fields },
  hooks: {
    inject(ctx, config) {
      fillPrefixSizes(config, ctx.dims);
      config.encoder_hidden_size ??= config.token_dim;
      const encoder = new PrefixEncoder(
        {
          numVirtualTokens: config.num_virtual_tokens,
          tokenDim: config.token_dim!,
          numLayers: config.num_layers!,
          kvHeads: config.num_attention_heads!,
          headDim: config.token_dim! / config.num_attention_heads!,
          encoderHiddenSize: config.encoder_hidden_size!,
        },
        config.prefix_projection,
        // PEFT builds only the output table in inference mode (a saved adapter being loaded)
        { zero: config.init_weights === 'zero', rng: ctx.rng, tableOnly: config.inference_mode },
      );
      for (const slot of ctx.site('attentionKV')) {
        ctx.attach(slot, new PrefixKVHook(encoder, slot.info.layer!), encoder.params, { keyPrefix: 'prompt_encoder.' });
      }
    },
  },
  state: {
    save: (adapter) => new Map([[PROMPT_EMBEDDINGS, prefixEncoderOf(adapter).outputForSave()]]),
    load(adapter, tensors, file) {
      const encoder = prefixEncoderOf(adapter);
      const { numVirtualTokens: n, tokenDim: td, numLayers: L } = encoder.sizes;
      checkTensorShapes(new Map([[PROMPT_EMBEDDINGS, [n, L * 2 * td]]]), tensors, file);
      const t = tensors.get(PROMPT_EMBEDDINGS)!;
      if (encoder.prefixProjection) encoder.useTable(t);
      else encoder.embedding.assign(tf.tidy(() => tf.cast(t, 'float32')));
    },
    extraFiles(adapter) {
      const encoder = prefixEncoderOf(adapter);
      return new Map(encoder.reparameterised ? [[ENCODER_FILE, encodeParameters(encoder.params)]] : []);
    },
    extraFileNames: [ENCODER_FILE],
    async loadExtraFiles(adapter, files) {
      const bytes = files.get(ENCODER_FILE);
      if (!bytes) return;
      const encoder = prefixEncoderOf(adapter);
      if (!encoder.prefixProjection) return;
      await withDecodedTensorsAsync(bytes, ENCODER_FILE, (tensors) => encoder.loadEncoder(tensors, ENCODER_FILE));
    },
  },
});
