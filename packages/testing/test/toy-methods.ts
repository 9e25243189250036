// Three small methods on the non-linear sites, written only against core's public API, to check
// that the test models' sites work and that the kit's switches fit prompt learning.
import * as tf from '@tensorflow/tfjs-core';
import {
  Module,
  definePeftMethod,
  type AttentionKVHook,
  type EmbeddingBatch,
  type InputEmbeddingsHook,
  type PeftConfigBase,
  type SublayerOutputHook,
} from '@peftjs/core';

interface ToyConfig extends PeftConfigBase {
  num_virtual_tokens: number;
}

const parse = (raw: Record<string, unknown>) => ({ num_virtual_tokens: 2, ...raw }) as ToyConfig;
const meta = (name: string) => ({ name, packageName: '@peftjs/testing (test)' });

/** Prompt tuning, reduced: n trainable embeddings before the tokens. */
export const toyPrompt = definePeftMethod<ToyConfig>({
  meta: meta('ToyPrompt'),
  type: 'TOY_PROMPT',
  sites: ['inputEmbeddings'],
  statePrefix: 'base_model.',
  notMergeable: 'virtual tokens are not weights',
  config: { parse },
  hooks: {
    inject(ctx, config) {
      const n = config.num_virtual_tokens;
      const params = new Module();
      // prompt_embeddings: [n, D]
      const prompt = params.registerParameter('prompt_embeddings', ctx.rng.normalTensor([n, ctx.dims.hiddenSize], 0, 0.5));
      const hook: InputEmbeddingsHook = {
        numVirtualTokens: n,
        extend: (b: EmbeddingBatch) =>
          tf.tidy(() => {
            const batch = b.embeds.shape[0];
            return {
              embeds: tf.concat([tf.tile(tf.expandDims(prompt, 0), [batch, 1, 1]), b.embeds], 1),
              attentionMask: tf.concat([tf.ones([batch, n]), tf.cast(b.attentionMask, 'float32')], 1),
              labels: b.labels && tf.concat([tf.fill([batch, n], -100, 'int32'), tf.cast(b.labels, 'int32')], 1),
            };
          }),
      };
      ctx.attach(ctx.site('inputEmbeddings'), hook, params, { keyPrefix: 'base_model.' });
    },
  },
});

/** Prefix tuning, reduced: n trainable keys and values per layer. */
export const toyPrefix = definePeftMethod<ToyConfig>({
  meta: meta('ToyPrefix'),
  type: 'TOY_PREFIX',
  sites: ['attentionKV'],
  notMergeable: 'prefix keys are not weights',
  config: { parse },
  hooks: {
    inject(ctx, config) {
      const n = config.num_virtual_tokens;
      const { numKvHeads, headDim } = ctx.dims;
      for (const slot of ctx.site('attentionKV')) {
        const params = new Module();
        // prefix_key, prefix_value: [kvHeads, n, headDim]
        const key = params.registerParameter('prefix_key', ctx.rng.normalTensor([numKvHeads, n, headDim]));
        const value = params.registerParameter('prefix_value', ctx.rng.normalTensor([numKvHeads, n, headDim]));
        const hook: AttentionKVHook = {
          numVirtualTokens: n,
          keyValue: (batch: number) =>
            tf.tidy(() => ({
              key: tf.tile(tf.expandDims(key, 0), [batch, 1, 1, 1]),
              value: tf.tile(tf.expandDims(value, 0), [batch, 1, 1, 1]),
            })),
        };
        ctx.attach(slot, hook, params);
      }
    },
  },
});

/** A bottleneck adapter, reduced: out + relu(out·down)·up after each sublayer. */
export const toyBottleneck = definePeftMethod<ToyConfig>({
  meta: meta('ToyBottleneck'),
  type: 'TOY_BOTTLENECK',
  sites: ['sublayerOutput'],
  notMergeable: 'a bottleneck has a nonlinearity',
  config: { parse },
  hooks: {
    inject(ctx) {
      const d = ctx.dims.hiddenSize;
      for (const slot of ctx.site('sublayerOutput')) {
        const params = new Module();
        // adapter_down: [D, 2]   adapter_up: [2, D] (zeros: the adapter starts as the identity)
        const down = params.registerParameter('adapter_down', ctx.rng.normalTensor([d, 2]));
        const up = params.registerParameter('adapter_up', tf.zeros([2, d]));
        const hook: SublayerOutputHook = {
          forward: (out: tf.Tensor) =>
            tf.tidy(() => {
              const flat = tf.reshape(out, [-1, d]);
              return tf.add(out, tf.reshape(tf.matMul(tf.relu(tf.matMul(flat, down)), up), out.shape));
            }),
        };
        ctx.attach(slot, hook, params);
      }
    },
  },
});

interface ToyRankOneConfig extends PeftConfigBase {
  target_modules: string[];
  /** Which defect to build in, so that a test can see the kit catch it. */
  defect: 'none' | 'leaks-a-tensor' | 'wrong-delta' | 'trains-the-base';
}

/** A rank-one update on `Linear` layers, y = base(x) + (x·a)·bᵀ, with defects to order. */
export const toyRankOne = definePeftMethod<ToyRankOneConfig>({
  meta: meta('ToyRankOne'),
  type: 'TOY_RANK_ONE',
  sites: ['linear'],
  config: { parse: (raw) => ({ defect: 'none', ...raw }) as ToyRankOneConfig },
  hooks: {
    inject(ctx, config) {
      for (const { module } of ctx.selectLinear({ targetModules: config.target_modules })) {
        const params = new Module();
        // rank_one_a: [in, 1]   rank_one_b: [out, 1]   ΔW = b·aᵀ: [out, in]
        const a = params.registerParameter('rank_one_a', ctx.rng.normalTensor([module.inFeatures, 1], 0, 0.1));
        const b = params.registerParameter('rank_one_b', ctx.rng.normalTensor([module.outFeatures, 1], 0, 0.1));
        if (config.defect === 'trains-the-base') module.weight.trainable = true;
        ctx.attach(
          module.peft,
          {
            forward: (x, next) => {
              if (config.defect === 'leaks-a-tensor') tf.keep(tf.ones([1]));
              return tf.tidy(() => tf.add(next(x), tf.matMul(tf.matMul(x, a), b, false, true)));
            },
            deltaWeight: () => tf.tidy(() => tf.mul(tf.matMul(b, a, false, true), config.defect === 'wrong-delta' ? 2 : 1)),
          },
          params,
        );
      }
    },
  },
});
