import * as tf from '@tensorflow/tfjs-core';
import { Module, Linear, Dropout, getGlobalRng, type ModelDims, type ModelOutput, type PeftBaseModel, type SiteTable } from '@peftjs/core';
import { parseBertConfig, type BertConfig, type HfConfig } from './config.js';
import { BertModel } from './bert.js';
import { crossEntropyIgnore, mseLoss } from './ops.js';
import { callChild } from './site-table.js';
import type { ModelBatch } from './step.js';
import type { InitOptions } from './llama.js';

function parse(config: BertConfig | HfConfig): BertConfig {
  return typeof (config as BertConfig).hiddenSize === 'number' && 'layerNormEps' in config
    ? (config as BertConfig)
    : parseBertConfig(config as HfConfig);
}

/** Shared by the BERT heads: a `bert` body, dropout, a `classifier` linear. */
abstract class BertHead extends Module implements PeftBaseModel<ModelBatch, ModelOutput> {
  readonly config: BertConfig;
  readonly outputHeadPaths = ['classifier'] as const;
  /** PEFT's default LoRA targets for bert. */
  readonly defaultTargetModules = ['query', 'value'] as const;
  /** The folder (or hub name) the model was loaded from: PEFT's `base_model_name_or_path`. */
  nameOrPath?: string;
  readonly tiedWeights: Array<[string, string]> = [];

  constructor(config: BertConfig | HfConfig, opts: InitOptions, addPoolingLayer: boolean) {
    super();
    const c = parse(config);
    this.config = c;
    const rng = opts.rng ?? getGlobalRng();
    this.registerModule('bert', new BertModel(c, { rng, addPoolingLayer, pathPrefix: 'bert' }));
    this.registerModule('dropout', new Dropout(c.classifierDropout ?? c.hiddenDropoutProb, rng));
    this.registerModule('classifier', new Linear(c.hiddenSize, c.numLabels, { rng }));
  }

  get bert(): BertModel {
    return this.child('bert') as BertModel;
  }

  get dims(): ModelDims {
    return this.bert.dims;
  }

  /** The body's activation recomputation (`BertModel.gradientCheckpointing`). */
  get gradientCheckpointing(): boolean {
    return this.bert.gradientCheckpointing;
  }

  set gradientCheckpointing(on: boolean) {
    this.bert.gradientCheckpointing = on;
  }

  get sites(): Required<SiteTable> {
    return this.bert.sites;
  }

  abstract forward(batch: ModelBatch): ModelOutput;
}

/** `BertForSequenceClassification`: classifier(dropout(pooler output)). logits: [B, num_labels]. */
export class BertForSequenceClassification extends BertHead {
  readonly task = 'sequence-classification' as const;

  constructor(config: BertConfig | HfConfig, opts: InitOptions = {}) {
    super(config, opts, true);
  }

  /**
   * Loss as transformers picks it: regression (MSE) when num_labels is 1, cross-entropy for
   * integer labels [B], binary cross-entropy with logits for float labels [B, num_labels].
   */
  forward(batch: ModelBatch): ModelOutput {
    return tf.tidy(() => {
      const out = this.bert.forward({ ...batch, labels: undefined });
      if (!out.poolerOutput) throw new Error('BertForSequenceClassification: bert.pooler is missing');
      const logits = callChild(this, 'classifier', callChild(this, 'dropout', out.poolerOutput));
      const labels = batch.labels;
      if (!labels) return { logits };
      return { logits, loss: sequenceClassificationLoss(logits, labels, this.config) };
    });
  }
}

/** logits: [B, L]   labels: [B] (int: classes; float with L = 1: regression) or [B, L] float (multi-label). */
export function sequenceClassificationLoss(
  logits: tf.Tensor,
  labels: tf.Tensor,
  config: Pick<BertConfig, 'numLabels' | 'problemType'>,
): tf.Tensor {
  return tf.tidy(() => {
    const L = config.numLabels;
    let problem = config.problemType;
    if (!problem) {
      if (L === 1) problem = 'regression';
      else if (labels.dtype === 'int32') problem = 'single_label_classification';
      else problem = 'multi_label_classification';
    }
    if (problem === 'regression') return mseLoss(logits, labels);
    if (problem === 'single_label_classification') return crossEntropyIgnore(logits, labels);
    if (problem === 'multi_label_classification') {
      // BCE with logits: max(x, 0) − x·z + log(1 + e^(−|x|))
      const z = tf.cast(labels, 'float32');
      const x = logits;
      return tf.mean(tf.add(tf.sub(tf.relu(x), tf.mul(x, z)), tf.log1p(tf.exp(tf.neg(tf.abs(x))))));
    }
    throw new Error(
      `config.json: problem_type "${problem}" is not supported (regression, single_label_classification, multi_label_classification)`,
    );
  });
}

/** `BertForTokenClassification`: classifier(dropout(last hidden state)). logits: [B, T', num_labels]. */
export class BertForTokenClassification extends BertHead {
  readonly task = 'token-classification' as const;

  constructor(config: BertConfig | HfConfig, opts: InitOptions = {}) {
    super(config, opts, false);
  }

  /** Loss: cross-entropy over tokens, ignoring -100 (virtual tokens get -100 from the site). */
  forward(batch: ModelBatch): ModelOutput {
    return tf.tidy(() => {
      const out = this.bert.forward(batch);
      const logits = callChild(this, 'classifier', callChild(this, 'dropout', out.lastHiddenState));
      const labels = out.labels;
      if (!labels) return { logits };
      const L = this.config.numLabels;
      if (labels.shape[1] !== logits.shape[1]) {
        throw new Error(`BertForTokenClassification: labels [${labels.shape}] do not match logits [${logits.shape}]`);
      }
      return { logits, loss: crossEntropyIgnore(tf.reshape(logits, [-1, L]), labels) };
    });
  }
}
