import * as tf from '@tensorflow/tfjs-core';
import {
  Conv1D,
  Embedding,
  Linear,
  Module,
  Rng,
  SiteSlot,
  applyInputEmbeddings,
  attentionPrefix,
  type ModelDims,
  type ModelOutput,
  type PeftBaseModel,
  type SiteTable,
  type TokenBatch,
} from '@peftjs/core';
import { crossEntropyLoss } from './losses.js';

export interface EmbConv1dOptions {
  vocabSize?: number;
  hiddenSize?: number;
  /** Seeds the initial weights: two models made with the same seed are equal. */
  seed?: number;
}

/**
 * A one-layer token model with every kind of site:
 * ids [B, T] → `emb` (Embedding) → `inputEmbeddings` site → `conv` (GPT-2 Conv1D, D → 3D: q, k, v)
 * → single-head causal attention with the `attentionKV` site's prefix → residual → `lm_head`.
 * Logits are [B, T', V] with T' = T + the virtual tokens a prompt method prepends; the loss is the
 * token-level cross-entropy of the (extended) labels, -100 ignored.
 */
export class TestEmbConv1d extends Module implements PeftBaseModel<TokenBatch, ModelOutput> {
  readonly dims: ModelDims;
  readonly sites: SiteTable;
  readonly outputHeadPaths = ['lm_head'] as const;
  readonly emb: Embedding;
  readonly conv: Conv1D;
  readonly lmHead: Linear;

  constructor(opts: EmbConv1dOptions = {}) {
    super();
    const { vocabSize = 11, hiddenSize = 8, seed = 0 } = opts;
    const rng = new Rng(seed);
    // emb.weight: [V, D]   conv.weight: [D, 3D]   lm_head.weight: [V, D]
    this.emb = this.registerModule('emb', new Embedding(vocabSize, hiddenSize, { rng }));
    this.conv = this.registerModule('conv', new Conv1D(3 * hiddenSize, hiddenSize, { rng }));
    const bias = rng.normalTensor([3 * hiddenSize], 0, 0.1); // a trained model's bias is not zero
    this.conv.bias!.assign(bias);
    bias.dispose();
    this.lmHead = this.registerModule('lm_head', new Linear(hiddenSize, vocabSize, { rng }));
    this.dims = {
      modelType: 'peftjs-tiny-seq',
      numLayers: 1,
      hiddenSize,
      numHeads: 1,
      numKvHeads: 1,
      headDim: hiddenSize,
      vocabSize,
    };
    this.sites = {
      inputEmbeddings: new SiteSlot('inputEmbeddings', { path: 'emb' }),
      attentionKV: [new SiteSlot('attentionKV', { path: 'attn.0', layer: 0 })],
    };
  }

  forward(inputs: TokenBatch): ModelOutput {
    return tf.tidy(() => {
      const [batchSize, seqLen] = inputs.inputIds.shape;
      const d = this.dims.hiddenSize;
      const embeds = this.emb.forward(inputs.inputIds); // [B, T, D]
      const mask0 = inputs.attentionMask ? tf.cast(inputs.attentionMask, 'float32') : tf.ones([batchSize, seqLen]);
      const batch = applyInputEmbeddings(this.sites.inputEmbeddings, { embeds, attentionMask: mask0, labels: inputs.labels });
      const h = batch.embeds; // [B, T', D]
      const t = h.shape[1] as number;
      const [q, k, v] = tf.split(this.conv.forward(h), 3, -1).map((x) => tf.reshape(x, [batchSize, 1, t, d])); // [B, 1, T', D]
      const prefix = attentionPrefix(this.sites.attentionKV![0], batchSize); // [B, 1, P, D]
      const p = prefix ? (prefix.key.shape[2] as number) : 0;
      const keys = prefix ? tf.concat([prefix.key, k], 2) : k; // [B, 1, P + T', D]
      const values = prefix ? tf.concat([prefix.value, v], 2) : v;
      const keyMask = tf.concat([tf.ones([batchSize, p]), tf.cast(batch.attentionMask, 'float32')], 1); // [B, P + T']
      const allowed = tf.mul(tf.reshape(keyMask, [batchSize, 1, 1, p + t]), causalMask(t, p)); // [B, 1, T', P + T']
      const scores = tf.add(tf.div(tf.matMul(q, keys, false, true), Math.sqrt(d)), tf.mul(tf.sub(1, allowed), -1e9));
      const attn = tf.reshape(tf.matMul(tf.softmax(scores, -1), values), [batchSize, t, d]); // [B, T', D]
      const logits = this.lmHead.forward(tf.add(h, attn)); // [B, T', V]
      if (!batch.labels) return { logits };
      return { logits, loss: crossEntropyLoss(logits, batch.labels) };
    });
  }
}

/** [T, P + T]: query i sees every prefix position and the positions j ≤ i of the sequence. */
function causalMask(t: number, p: number): tf.Tensor {
  const data = new Float32Array(t * (p + t));
  for (let i = 0; i < t; i++) for (let j = 0; j < p + t; j++) data[i * (p + t) + j] = j < p || j - p <= i ? 1 : 0;
  return tf.tensor2d(data, [t, p + t]);
}

/** The embedding + Conv1D test model (`peftjs-tiny-seq`). */
export function createEmbConv1d(opts: EmbConv1dOptions = {}): TestEmbConv1d {
  return new TestEmbConv1d(opts);
}

/** A seeded token batch: ids in [0, V), the last position of row 0 padded; labels are random ids, -100 where padded. */
export function embConv1dBatch(
  model: TestEmbConv1d,
  opts: { batchSize?: number; seqLen?: number; seed?: number; labels?: boolean } = {},
): TokenBatch {
  const { batchSize = 4, seqLen = 5, seed = 1, labels = true } = opts;
  const rng = new Rng(seed);
  const ids = Array.from({ length: batchSize * seqLen }, () => rng.int(model.dims.vocabSize));
  const mask = ids.map((_, i) => (i === seqLen - 1 ? 0 : 1));
  const inputIds = tf.tensor2d(ids, [batchSize, seqLen], 'int32');
  const attentionMask = tf.tensor2d(mask, [batchSize, seqLen], 'int32');
  if (!labels) return { inputIds, attentionMask };
  const targets = ids.map(() => rng.int(model.dims.vocabSize)).map((id, i) => (mask[i] ? id : -100));
  return { inputIds, attentionMask, labels: tf.tensor2d(targets, [batchSize, seqLen], 'int32') };
}
