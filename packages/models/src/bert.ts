import * as tf from '@tensorflow/tfjs-core';
import {
  Module,
  Linear,
  Embedding,
  LayerNorm,
  Dropout,
  applyInputEmbeddings,
  applySublayerOutput,
  getGlobalRng,
  type ModelDims,
  type ModelOutput,
  type PeftBaseModel,
  type Rng,
  type SiteSlot,
  type SiteTable,
} from '@peftjs/core';
import { parseBertConfig, type BertConfig, type HfConfig } from './config.js';
import { activation, mergeHeads, scaledDotProductAttention, splitHeads, tidyOut } from './ops.js';
import { ModuleList, callChild, makeSiteTable } from './site-table.js';
import { beginStep, joinKeyValues, maskOf, type AttentionStep, type ModelBatch } from './step.js';
import type { InitOptions } from './llama.js';
import { runLayers } from './recompute.js';

/** `BertEmbeddings`: word (+ token type) (+ position), LayerNorm, dropout. */
export class BertEmbeddings extends Module {
  constructor(config: BertConfig, rng: Rng) {
    super();
    const D = config.hiddenSize;
    this.registerModule('word_embeddings', new Embedding(config.vocabSize, D, { rng }));
    this.registerModule('position_embeddings', new Embedding(config.maxPositionEmbeddings, D, { rng }));
    this.registerModule('token_type_embeddings', new Embedding(config.typeVocabSize, D, { rng }));
    this.registerModule('LayerNorm', new LayerNorm(D, config.layerNormEps));
    this.registerModule('dropout', new Dropout(config.hiddenDropoutProb, rng));
  }

  /** embeds: [B, T, D] word embeddings   tokenTypeIds: [B, T]   positionIds: [R, T]   →   [B, T, D]. */
  combine(embeds: tf.Tensor, tokenTypeIds: tf.Tensor, positionIds: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const withType = tf.add(embeds, callChild(this, 'token_type_embeddings', tokenTypeIds));
      const withPos = tf.add(withType, callChild(this, 'position_embeddings', positionIds));
      return callChild(this, 'dropout', callChild(this, 'LayerNorm', withPos));
    });
  }
}

/** `BertSelfAttention` (query/key/value) + the attentionKV prefix. */
export class BertSelfAttention extends Module {
  constructor(
    readonly config: BertConfig,
    readonly layerIdx: number,
    rng: Rng,
  ) {
    super();
    const D = config.hiddenSize;
    this.registerModule('query', new Linear(D, D, { rng }));
    this.registerModule('key', new Linear(D, D, { rng }));
    this.registerModule('value', new Linear(D, D, { rng }));
    this.registerModule('dropout', new Dropout(config.attentionProbsDropoutProb, rng));
  }

  /** x: [B, T, D] → context [B, T, D]. */
  forward(x: tf.Tensor, step: AttentionStep, slot: SiteSlot<'attentionKV'> | undefined): tf.Tensor {
    return tf.tidy(() => {
      const H = this.config.numAttentionHeads;
      const hd = this.config.hiddenSize / H;
      // q, k, v: [B, H, T, hd]
      const q = splitHeads(callChild(this, 'query', x), H, hd);
      const k = splitHeads(callChild(this, 'key', x), H, hd);
      const v = splitHeads(callChild(this, 'value', x), H, hd);
      const kv = joinKeyValues(step, this.layerIdx, slot, k, v);
      const dropout = this.child('dropout') as Dropout;
      const drop = dropout.training && dropout.p > 0 ? (p: tf.Tensor) => dropout.forward(p) : undefined;
      return mergeHeads(scaledDotProductAttention(q, kv.key, kv.value, step.bias(this.layerIdx), 1 / Math.sqrt(hd), drop));
    });
  }
}

/** `BertSelfOutput` / `BertOutput`: LayerNorm(site(dropout(dense(h))) + input). */
export class BertResidualOutput extends Module {
  constructor(inDim: number, config: BertConfig, rng: Rng) {
    super();
    this.registerModule('dense', new Linear(inDim, config.hiddenSize, { rng }));
    this.registerModule('LayerNorm', new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.registerModule('dropout', new Dropout(config.hiddenDropoutProb, rng));
  }

  /** h: [B, T, inDim]   input: [B, T, D]   →   [B, T, D]. */
  forward(h: tf.Tensor, input: tf.Tensor, site: SiteSlot<'sublayerOutput'> | undefined): tf.Tensor {
    return tf.tidy(() => {
      let out = callChild(this, 'dropout', callChild(this, 'dense', h));
      out = applySublayerOutput(site, out, input);
      return callChild(this, 'LayerNorm', tf.add(out, input));
    });
  }
}

export class BertLayer extends Module {
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(
    readonly config: BertConfig,
    readonly layerIdx: number,
    rng: Rng,
  ) {
    super();
    const D = config.hiddenSize;
    const attention = this.registerModule('attention', new Module());
    attention.registerModule('self', new BertSelfAttention(config, layerIdx, rng));
    attention.registerModule('output', new BertResidualOutput(D, config, rng));
    this.registerModule('intermediate', new Module()).registerModule('dense', new Linear(D, config.intermediateSize, { rng }));
    this.registerModule('output', new BertResidualOutput(config.intermediateSize, config, rng));
    this.act = activation(config.hiddenAct);
  }

  /** h: [B, T, D] → [B, T, D]. */
  forward(h: tf.Tensor, step: AttentionStep, sites: Required<SiteTable>): tf.Tensor {
    return tf.tidy(() => {
      const l = this.layerIdx;
      const attention = this.child('attention')!;
      const context = (attention.child('self') as BertSelfAttention).forward(h, step, sites.attentionKV[l]);
      const a = (attention.child('output') as BertResidualOutput).forward(context, h, sites.sublayerOutput[2 * l]);
      // inner: [B, T, intermediate]
      const inner = this.act(callChild(this.child('intermediate')!, 'dense', a));
      return (this.child('output') as BertResidualOutput).forward(inner, a, sites.sublayerOutput[2 * l + 1]);
    });
  }
}

export interface BertModelOutput extends ModelOutput {
  /** [B, T', D] the encoder output (also returned as `logits`). */
  lastHiddenState: tf.Tensor;
  /** [B, D] tanh(dense(first token)), when the model has a pooler. */
  poolerOutput?: tf.Tensor;
  /** The labels after virtual tokens extended them. */
  labels?: tf.Tensor;
}

/**
 * `BertModel`: embeddings, encoder, optional pooler. As a model on its own, its paths have no
 * `bert.` prefix (as transformers' `BertModel`) and `logits` is the last hidden state.
 */
export class BertModel extends Module implements PeftBaseModel<ModelBatch, BertModelOutput> {
  readonly config: BertConfig;
  readonly dims: ModelDims;
  readonly sites: Required<SiteTable>;
  readonly outputHeadPaths: readonly string[] = [];
  /** PEFT's default LoRA targets for bert. */
  readonly defaultTargetModules = ['query', 'value'] as const;
  /** The folder (or hub name) the model was loaded from: PEFT's `base_model_name_or_path`. */
  nameOrPath?: string;
  readonly task = 'feature-extraction' as const;
  readonly tiedWeights: Array<[string, string]> = [];
  /** transformers' `gradient_checkpointing_enable()`: recompute each encoder layer in the backward pass while training. */
  gradientCheckpointing = false;

  constructor(config: BertConfig | HfConfig, opts: InitOptions & { addPoolingLayer?: boolean; pathPrefix?: string } = {}) {
    super();
    const c =
      typeof (config as BertConfig).hiddenSize === 'number' && 'layerNormEps' in config
        ? (config as BertConfig)
        : parseBertConfig(config as HfConfig);
    this.config = c;
    const rng = opts.rng ?? getGlobalRng();
    this.registerModule('embeddings', new BertEmbeddings(c, rng));
    const layers = Array.from({ length: c.numHiddenLayers }, (_, i) => new BertLayer(c, i, rng));
    this.registerModule('encoder', new Module()).registerModule('layer', new ModuleList(layers));
    if (opts.addPoolingLayer ?? true) {
      this.registerModule('pooler', new Module()).registerModule('dense', new Linear(c.hiddenSize, c.hiddenSize, { rng }));
    }
    this.dims = {
      modelType: c.modelType,
      numLayers: c.numHiddenLayers,
      hiddenSize: c.hiddenSize,
      numHeads: c.numAttentionHeads,
      numKvHeads: c.numAttentionHeads,
      headDim: c.hiddenSize / c.numAttentionHeads,
      vocabSize: c.vocabSize,
    };
    const p = opts.pathPrefix ? `${opts.pathPrefix}.` : '';
    this.sites = makeSiteTable(c.numHiddenLayers, {
      inputEmbeddings: `${p}embeddings.word_embeddings`,
      attention: (l) => `${p}encoder.layer.${l}.attention.self`,
      attentionOutput: (l) => `${p}encoder.layer.${l}.attention.output`,
      ffn: (l) => `${p}encoder.layer.${l}.output`,
    });
  }

  /** Runs the encoder; `lastHiddenState` [B, T', D] with T' = T + virtual tokens. */
  forward(batch: ModelBatch): BertModelOutput {
    return tidyOut(() => {
      const what = this.config.modelType;
      if (batch.cache) throw new Error(`${what}: BERT is an encoder and takes no KV cache`);
      let mask = maskOf(batch, what);
      const embeddings = this.child('embeddings') as BertEmbeddings;
      // embeds: [B, T, D] word embeddings only (the inputEmbeddings site runs before type/position)
      let embeds = callChild(embeddings, 'word_embeddings', batch.inputIds);
      const T = batch.inputIds.shape[1] as number;
      let tokenTypeIds = batch.tokenTypeIds ? tf.cast(batch.tokenTypeIds, 'int32') : tf.zeros(batch.inputIds.shape, 'int32');
      let labels = batch.labels;
      const tokenLabels = labels !== undefined && labels.rank === 2;
      const ext = applyInputEmbeddings(this.sites.inputEmbeddings, {
        embeds,
        attentionMask: mask,
        labels: tokenLabels ? labels : undefined,
      });
      embeds = ext.embeds;
      mask = ext.attentionMask;
      if (tokenLabels) labels = ext.labels;
      const added = (embeds.shape[1] as number) - T;
      // token types of virtual tokens are 0, as PEFT prepends them
      if (added > 0) tokenTypeIds = tf.concat([tf.zeros([embeds.shape[0] as number, added], 'int32'), tokenTypeIds], 1);
      const B = embeds.shape[0] as number;
      const step = beginStep({
        batchSize: B,
        mask,
        kvSlots: this.sites.attentionKV,
        numLayers: this.config.numHiddenLayers,
        causal: false,
        positionIds: batch.positionIds,
        maxPositions: this.config.maxPositionEmbeddings,
        what,
      });
      const layers = this.child('encoder')!.child('layer') as ModuleList<BertLayer>;
      const h = runLayers(
        {
          numLayers: layers.length,
          what,
          step,
          sites: this.sites,
          recompute: this.gradientCheckpointing,
          layer: (l) => layers.at(l),
          forward: (l, x, s) => layers.at(l).forward(x, s, this.sites),
        },
        embeddings.combine(embeds, tokenTypeIds, step.positionIds),
      );
      const pooler = this.child('pooler');
      let poolerOutput: tf.Tensor | undefined;
      if (pooler) {
        const D = this.config.hiddenSize;
        // first: [B, D] the first position (a virtual token when prompts were prepended, as in PEFT)
        const first = tf.reshape(tf.slice(h, [0, 0, 0], [B, 1, D]), [B, D]);
        poolerOutput = tf.tanh(callChild(pooler, 'dense', first));
      }
      const out: BertModelOutput = { logits: h, lastHiddenState: h };
      if (poolerOutput) out.poolerOutput = poolerOutput;
      if (labels) out.labels = labels;
      return out;
    });
  }
}
