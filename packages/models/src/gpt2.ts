import * as tf from '@tensorflow/tfjs-core';
import {
  Module,
  Linear,
  Conv1D,
  Embedding,
  LayerNorm,
  Dropout,
  applyInputEmbeddings,
  getGlobalRng,
  type ModelDims,
  type ModelOutput,
  type PeftBaseModel,
  type Rng,
  type SiteSlot,
  type SiteTable,
} from '@peftjs/core';
import { parseGPT2Config, type GPT2Config, type HfConfig } from './config.js';
import { KVCache } from './cache.js';
import { activation, mergeHeads, scaledDotProductAttention, splitHeads } from './ops.js';
import { ModuleList, callChild, makeSiteTable, preNormBlock } from './site-table.js';
import { beginStep, causalLmOutput, endStep, joinKeyValues, maskOf, type AttentionStep, type ModelBatch } from './step.js';
import type { InitOptions } from './llama.js';
import { runLayers } from './recompute.js';
import { withRequestContext } from './oom.js';

/** `GPT2Attention`: fused q/k/v `c_attn` (Conv1D), `c_proj`, causal attention. */
export class GPT2Attention extends Module {
  constructor(
    readonly config: GPT2Config,
    readonly layerIdx: number,
    rng: Rng,
  ) {
    super();
    const D = config.nEmbd;
    this.registerModule('c_attn', new Conv1D(3 * D, D, { rng }));
    this.registerModule('c_proj', new Conv1D(D, D, { rng }));
    this.registerModule('attn_dropout', new Dropout(config.attnPdrop, rng));
    this.registerModule('resid_dropout', new Dropout(config.residPdrop, rng));
  }

  /** x: [B, T, D] → [B, T, D] (after c_proj and resid_dropout). */
  forward(x: tf.Tensor, step: AttentionStep, slot: SiteSlot<'attentionKV'> | undefined): tf.Tensor {
    return tf.tidy(() => {
      const { nEmbd: D, nHead: H } = this.config;
      const hd = D / H;
      // qkv: [B, T, 3D] → q, k, v: [B, H, T, hd]
      const [q, k, v] = tf.split(callChild(this, 'c_attn', x), [D, D, D], -1).map((t) => splitHeads(t, H, hd));
      const kv = joinKeyValues(step, this.layerIdx, slot, k, v);
      let scale = this.config.scaleAttnWeights ? 1 / Math.sqrt(hd) : 1;
      if (this.config.scaleAttnByInverseLayerIdx) scale /= this.layerIdx + 1;
      const dropout = this.child('attn_dropout') as Dropout;
      const drop = dropout.training && dropout.p > 0 ? (p: tf.Tensor) => dropout.forward(p) : undefined;
      const out = scaledDotProductAttention(q, kv.key, kv.value, step.bias(this.layerIdx), scale, drop);
      return callChild(this, 'resid_dropout', callChild(this, 'c_proj', mergeHeads(out)));
    });
  }
}

/** `GPT2MLP`: dropout(c_proj(act(c_fc(x)))). */
export class GPT2MLP extends Module {
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(config: GPT2Config, rng: Rng) {
    super();
    this.registerModule('c_fc', new Conv1D(config.nInner, config.nEmbd, { rng }));
    this.registerModule('c_proj', new Conv1D(config.nEmbd, config.nInner, { rng }));
    this.registerModule('dropout', new Dropout(config.residPdrop, rng));
    this.act = activation(config.activationFunction);
  }

  /** x: [B, T, D] → [B, T, D]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      // inner: [B, T, n_inner]
      const inner = this.act(callChild(this, 'c_fc', x));
      return callChild(this, 'dropout', callChild(this, 'c_proj', inner));
    });
  }
}

export class GPT2Block extends Module {
  constructor(
    readonly config: GPT2Config,
    readonly layerIdx: number,
    rng: Rng,
  ) {
    super();
    this.registerModule('ln_1', new LayerNorm(config.nEmbd, config.layerNormEpsilon));
    this.registerModule('attn', new GPT2Attention(config, layerIdx, rng));
    this.registerModule('ln_2', new LayerNorm(config.nEmbd, config.layerNormEpsilon));
    this.registerModule('mlp', new GPT2MLP(config, rng));
  }

  /** h: [B, T, D] → [B, T, D]. */
  forward(h: tf.Tensor, step: AttentionStep, sites: Required<SiteTable>): tf.Tensor {
    const attn = this.child('attn') as GPT2Attention;
    const l = this.layerIdx;
    return preNormBlock(this, l, sites, h, { norm1: 'ln_1', norm2: 'ln_2', mlp: 'mlp' }, (x) =>
      attn.forward(x, step, sites.attentionKV[l]),
    );
  }
}

/** `GPT2Model`: token + learned position embeddings, blocks, final LayerNorm. */
export class GPT2Model extends Module {
  readonly h: ModuleList<GPT2Block>;
  /** Recompute each block's activations in the backward pass (see `recomputeLayer`). */
  gradientCheckpointing = false;

  constructor(
    readonly config: GPT2Config,
    rng: Rng,
  ) {
    super();
    this.registerModule('wte', new Embedding(config.vocabSize, config.nEmbd, { rng }));
    this.registerModule('wpe', new Embedding(config.nPositions, config.nEmbd, { rng }));
    this.registerModule('drop', new Dropout(config.embdPdrop, rng));
    this.h = this.registerModule('h', new ModuleList(Array.from({ length: config.nLayer }, (_, i) => new GPT2Block(config, i, rng))));
    this.registerModule('ln_f', new LayerNorm(config.nEmbd, config.layerNormEpsilon));
  }

  /** The final hidden states [B, T', D] and the labels extended by virtual tokens. */
  run(batch: ModelBatch, sites: Required<SiteTable>): { hidden: tf.Tensor; labels?: tf.Tensor } {
    const what = this.config.modelType;
    let mask = maskOf(batch, what);
    // embeds: [B, T, D] (token embeddings only: the inputEmbeddings site sees them before positions)
    let embeds = callChild(this, 'wte', batch.inputIds);
    let labels = batch.labels;
    if (!batch.cache?.started) {
      ({ embeds, attentionMask: mask, labels } = applyInputEmbeddings(sites.inputEmbeddings, { embeds, attentionMask: mask, labels }));
    }
    const step = beginStep({
      batchSize: embeds.shape[0] as number,
      mask,
      kvSlots: sites.attentionKV,
      numLayers: this.config.nLayer,
      causal: true,
      cache: batch.cache,
      positionIds: batch.positionIds,
      maxPositions: this.config.nPositions,
      what,
      maskRule: 'gpt2', // transformers' GPT-2 eager masking, which differs from LLaMA's at padded query rows
    });
    // positions: [R, T, D], R = 1 or B
    const positions = callChild(this, 'wpe', step.positionIds);
    const h = runLayers(
      {
        numLayers: this.h.length,
        what,
        step,
        sites,
        recompute: this.gradientCheckpointing,
        layer: (l) => this.h.at(l),
        forward: (l, x, s) => this.h.at(l).forward(x, s, sites),
      },
      callChild(this, 'drop', tf.add(embeds, positions)),
    );
    endStep(step);
    return { hidden: callChild(this, 'ln_f', h), labels };
  }
}

/** `GPT2LMHeadModel`: the LM head shares `transformer.wte.weight` (the checkpoint stores no lm_head). */
export class GPT2LMHeadModel extends Module implements PeftBaseModel<ModelBatch, ModelOutput> {
  readonly config: GPT2Config;
  readonly dims: ModelDims;
  readonly sites: Required<SiteTable>;
  readonly outputHeadPaths = ['lm_head'] as const;
  /** PEFT's default LoRA targets for gpt2. */
  readonly defaultTargetModules = ['c_attn'] as const;
  /** The folder (or hub name) the model was loaded from: PEFT's `base_model_name_or_path`. */
  nameOrPath?: string;
  readonly task = 'causal-lm' as const;
  readonly tiedWeights: Array<[string, string]> = [['lm_head.weight', 'transformer.wte.weight']];

  constructor(config: GPT2Config | HfConfig, opts: InitOptions = {}) {
    super();
    const c = typeof (config as GPT2Config).nEmbd === 'number' ? (config as GPT2Config) : parseGPT2Config(config as HfConfig);
    this.config = c;
    const rng = opts.rng ?? getGlobalRng();
    const transformer = this.registerModule('transformer', new GPT2Model(c, rng));
    const head = this.registerModule('lm_head', new Linear(c.nEmbd, c.vocabSize, { bias: false, rng }));
    head.registerParameter('weight', (transformer.child('wte') as Embedding).weight);
    this.dims = {
      modelType: c.modelType,
      numLayers: c.nLayer,
      hiddenSize: c.nEmbd,
      numHeads: c.nHead,
      numKvHeads: c.nHead,
      headDim: c.nEmbd / c.nHead,
      vocabSize: c.vocabSize,
    };
    this.sites = makeSiteTable(c.nLayer, {
      inputEmbeddings: 'transformer.wte',
      attention: (l) => `transformer.h.${l}.attn`,
      attentionOutput: (l) => `transformer.h.${l}.attn`,
      ffn: (l) => `transformer.h.${l}.mlp`,
    });
  }

  /** transformers' `gradient_checkpointing_enable()`: recompute each block in the backward pass while training. */
  get gradientCheckpointing(): boolean {
    return (this.child('transformer') as GPT2Model).gradientCheckpointing;
  }

  set gradientCheckpointing(on: boolean) {
    (this.child('transformer') as GPT2Model).gradientCheckpointing = on;
  }

  newCache(): KVCache {
    return new KVCache(this.config.nLayer);
  }

  /** logits: [B, T', V]; loss: shifted cross-entropy when labels are given. */
  forward(batch: ModelBatch): ModelOutput {
    return withRequestContext(this.config.modelType, batch, this.gradientCheckpointing, () =>
      tf.tidy(() => {
        const { hidden, labels } = (this.child('transformer') as GPT2Model).run(batch, this.sites);
        return causalLmOutput(this, hidden, labels, batch.logitsToKeep, this.config.modelType, batch.lossChunkSize);
      }),
    );
  }
}
