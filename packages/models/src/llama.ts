import * as tf from '@tensorflow/tfjs-core';
import {
  Module,
  Linear,
  Embedding,
  RMSNorm,
  Dropout,
  applyInputEmbeddings,
  swiGlu,
  getGlobalRng,
  type ModelDims,
  type ModelOutput,
  type PeftBaseModel,
  type Rng,
  type SiteSlot,
  type SiteTable,
} from '@peftjs/core';
import { parseLlamaConfig, type HfConfig, type LlamaConfig } from './config.js';
import { KVCache } from './cache.js';
import { mergeHeads, scaledDotProductAttention, splitHeads } from './ops.js';
import { applyRotary, rotaryCosSin } from './rope.js';
import { ModuleList, callChild, makeSiteTable, preNormBlock } from './site-table.js';
import { beginStep, causalLmOutput, endStep, joinKeyValues, maskOf, type AttentionStep, type ModelBatch } from './step.js';
import { runLayers } from './recompute.js';
import { withRequestContext } from './oom.js';

export interface InitOptions {
  /** Generator for the random initial weights (the global one by default). */
  rng?: Rng;
}

/** `LlamaAttention`: q/k/v/o projections, RoPE on queries and own keys, grouped-query heads. */
export class LlamaAttention extends Module {
  private readonly attnDropout: Dropout;

  constructor(
    readonly config: LlamaConfig,
    readonly layerIdx: number,
    rng: Rng,
  ) {
    super();
    const { hiddenSize: D, numAttentionHeads: H, numKeyValueHeads: kvH, headDim: hd } = config;
    this.registerModule('q_proj', new Linear(D, H * hd, { bias: config.qkvBias, rng }));
    this.registerModule('k_proj', new Linear(D, kvH * hd, { bias: config.qkvBias, rng }));
    this.registerModule('v_proj', new Linear(D, kvH * hd, { bias: config.qkvBias, rng }));
    this.registerModule('o_proj', new Linear(H * hd, D, { bias: config.oBias, rng }));
    this.attnDropout = new Dropout(config.attentionDropout, rng);
  }

  /** x: [B, T, D]   cos, sin: [R, 1, T, hd]   →   [B, T, D]. */
  forward(x: tf.Tensor, step: AttentionStep, slot: SiteSlot<'attentionKV'> | undefined, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { numAttentionHeads: H, numKeyValueHeads: kvH, headDim: hd } = this.config;
      // q: [B, H, T, hd]   k, v: [B, kvH, T, hd]
      const q = applyRotary(splitHeads(callChild(this, 'q_proj', x), H, hd), cos, sin);
      const k = applyRotary(splitHeads(callChild(this, 'k_proj', x), kvH, hd), cos, sin);
      const v = splitHeads(callChild(this, 'v_proj', x), kvH, hd);
      // key, value: [B, kvH, n + P + T, hd] (prefix keys get no RoPE)
      const kv = joinKeyValues(step, this.layerIdx, slot, k, v);
      const window = this.config.slidingWindow;
      if (window !== null && (kv.key.shape[2] as number) > window) {
        throw new Error(`${this.config.modelType}: ${kv.key.shape[2]} keys exceed sliding_window ${window} (not implemented)`);
      }
      const drop = this.training && this.attnDropout.p > 0 ? (p: tf.Tensor) => this.attnDropout.forward(p, true) : undefined;
      const out = scaledDotProductAttention(q, kv.key, kv.value, step.bias(this.layerIdx), 1 / Math.sqrt(hd), drop);
      return callChild(this, 'o_proj', mergeHeads(out));
    });
  }
}

/** `LlamaMLP`: down(silu(gate(x)) · up(x)). */
export class LlamaMLP extends Module {
  constructor(config: LlamaConfig, rng: Rng) {
    super();
    const { hiddenSize: D, intermediateSize: I, mlpBias: bias } = config;
    this.registerModule('gate_proj', new Linear(D, I, { bias, rng }));
    this.registerModule('up_proj', new Linear(D, I, { bias, rng }));
    this.registerModule('down_proj', new Linear(I, D, { bias, rng }));
  }

  /** x: [B, T, D] → [B, T, D]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      // gated: [B, T, I] = silu(gate)·up (PeftSwiGlu: one pass on backends with a kernel)
      const gated = swiGlu({ gate: callChild(this, 'gate_proj', x), up: callChild(this, 'up_proj', x) }, {});
      return callChild(this, 'down_proj', gated);
    });
  }
}

export class LlamaDecoderLayer extends Module {
  constructor(
    readonly config: LlamaConfig,
    readonly layerIdx: number,
    rng: Rng,
  ) {
    super();
    this.registerModule('self_attn', new LlamaAttention(config, layerIdx, rng));
    this.registerModule('mlp', new LlamaMLP(config, rng));
    this.registerModule('input_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
    this.registerModule('post_attention_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
  }

  /** h: [B, T, D] → [B, T, D]. */
  forward(h: tf.Tensor, step: AttentionStep, sites: Required<SiteTable>, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
    const attn = this.child('self_attn') as LlamaAttention;
    const l = this.layerIdx;
    return preNormBlock(this, l, sites, h, { norm1: 'input_layernorm', norm2: 'post_attention_layernorm', mlp: 'mlp' }, (x) =>
      attn.forward(x, step, sites.attentionKV[l], cos, sin),
    );
  }
}

/** `LlamaModel`: embeddings, decoder layers, final norm. */
export class LlamaModel extends Module {
  readonly layers: ModuleList<LlamaDecoderLayer>;
  /** Recompute each decoder layer's activations in the backward pass (see `recomputeLayer`). */
  gradientCheckpointing = false;

  constructor(
    readonly config: LlamaConfig,
    rng: Rng,
  ) {
    super();
    this.registerModule('embed_tokens', new Embedding(config.vocabSize, config.hiddenSize, { rng }));
    this.layers = this.registerModule(
      'layers',
      new ModuleList(Array.from({ length: config.numHiddenLayers }, (_, i) => new LlamaDecoderLayer(config, i, rng))),
    );
    this.registerModule('norm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
  }

  /** The final hidden states [B, T', D] and the labels extended by virtual tokens. */
  run(batch: ModelBatch, sites: Required<SiteTable>): { hidden: tf.Tensor; labels?: tf.Tensor } {
    const what = this.config.modelType;
    let mask = maskOf(batch, what);
    // embeds: [B, T, D]
    let embeds = callChild(this, 'embed_tokens', batch.inputIds);
    let labels = batch.labels;
    if (!batch.cache?.started) {
      const ext = applyInputEmbeddings(sites.inputEmbeddings, { embeds, attentionMask: mask, labels });
      ({ embeds, attentionMask: mask, labels } = ext);
    }
    const step = beginStep({
      batchSize: embeds.shape[0] as number,
      mask,
      kvSlots: sites.attentionKV,
      numLayers: this.config.numHiddenLayers,
      causal: true,
      cache: batch.cache,
      positionIds: batch.positionIds,
      what,
    });
    const { cos, sin } = rotaryCosSin(step.positionRows, this.config.headDim, this.config.ropeTheta, this.config.ropeScaling);
    const h = runLayers(
      {
        numLayers: this.layers.length,
        what,
        step,
        sites,
        recompute: this.gradientCheckpointing,
        layer: (l) => this.layers.at(l),
        forward: (l, x, s, [c, si]) => this.layers.at(l).forward(x, s, sites, c!, si!),
        shared: [cos, sin],
      },
      embeds,
    );
    endStep(step);
    return { hidden: callChild(this, 'norm', h), labels };
  }
}

/** `LlamaForCausalLM` (also Mistral and Qwen2 configs: the same math). */
export class LlamaForCausalLM extends Module implements PeftBaseModel<ModelBatch, ModelOutput> {
  readonly config: LlamaConfig;
  readonly dims: ModelDims;
  readonly sites: Required<SiteTable>;
  readonly outputHeadPaths = ['lm_head'] as const;
  /** PEFT's default LoRA targets for llama, mistral and qwen2. */
  readonly defaultTargetModules = ['q_proj', 'v_proj'] as const;
  /** The folder (or hub name) the model was loaded from: PEFT's `base_model_name_or_path`. */
  nameOrPath?: string;
  readonly task = 'causal-lm' as const;

  constructor(config: LlamaConfig | HfConfig, opts: InitOptions = {}) {
    super();
    const c = isParsed(config) ? config : parseLlamaConfig(config);
    this.config = c;
    const rng = opts.rng ?? getGlobalRng();
    const model = this.registerModule('model', new LlamaModel(c, rng));
    const head = this.registerModule('lm_head', new Linear(c.hiddenSize, c.vocabSize, { bias: false, rng }));
    if (c.tieWordEmbeddings) head.registerParameter('weight', (model.child('embed_tokens') as Embedding).weight);
    this.dims = {
      modelType: c.modelType,
      numLayers: c.numHiddenLayers,
      hiddenSize: c.hiddenSize,
      numHeads: c.numAttentionHeads,
      numKvHeads: c.numKeyValueHeads,
      headDim: c.headDim,
      vocabSize: c.vocabSize,
    };
    this.sites = makeSiteTable(c.numHiddenLayers, {
      inputEmbeddings: 'model.embed_tokens',
      attention: (l) => `model.layers.${l}.self_attn`,
      attentionOutput: (l) => `model.layers.${l}.self_attn`,
      ffn: (l) => `model.layers.${l}.mlp`,
    });
  }

  /** transformers' `gradient_checkpointing_enable()`: recompute each decoder layer in the backward pass while training. */
  get gradientCheckpointing(): boolean {
    return (this.child('model') as LlamaModel).gradientCheckpointing;
  }

  set gradientCheckpointing(on: boolean) {
    (this.child('model') as LlamaModel).gradientCheckpointing = on;
  }

  /** True when `lm_head.weight` is `model.embed_tokens.weight` (tie_word_embeddings). */
  get tiedWeights(): Array<[string, string]> {
    return this.config.tieWordEmbeddings ? [['lm_head.weight', 'model.embed_tokens.weight']] : [];
  }

  /** A fresh, empty cache for `forward({ …, cache })`. */
  newCache(): KVCache {
    return new KVCache(this.config.numHiddenLayers);
  }

  /** logits: [B, T', V] (T' = T + virtual tokens); loss: shifted cross-entropy when labels are given. */
  forward(batch: ModelBatch): ModelOutput {
    return withRequestContext(this.config.modelType, batch, this.gradientCheckpointing, () =>
      tf.tidy(() => {
        const { hidden, labels } = (this.child('model') as LlamaModel).run(batch, this.sites);
        return causalLmOutput(this, hidden, labels, batch.logitsToKeep, this.config.modelType, batch.lossChunkSize);
      }),
    );
  }
}

function isParsed(c: LlamaConfig | HfConfig): c is LlamaConfig {
  return typeof (c as LlamaConfig).hiddenSize === 'number' && typeof (c as LlamaConfig).numHiddenLayers === 'number';
}
