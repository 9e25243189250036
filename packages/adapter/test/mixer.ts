import * as tf from '@tensorflow/tfjs-core';
import {
  LayerNorm,
  Linear,
  Module,
  Rng,
  SiteSlot,
  applySublayerOutput,
  type ModelDims,
  type ModelOutput,
  type PeftBaseModel,
  type SiteTable,
  type TokenBatch,
} from '@peftjs/core';

/**
 * A small pre-LN text classifier with transformer-shaped blocks, cheap enough to train in a test
 * on the CPU backend: the masked mean of the token embeddings ([B, 1, D], a sequence of one), then
 * per layer a mixing Linear and a feed-forward block, each wired to a `sublayerOutput` site before
 * its residual add, as LLaMA is; a final LayerNorm and `classifier`; cross-entropy on [B] labels.
 */
export class MixerClassifier extends Module implements PeftBaseModel<TokenBatch, ModelOutput> {
  readonly dims: ModelDims;
  readonly sites: SiteTable;
  readonly outputHeadPaths = ['classifier'];

  constructor(
    vocab: number,
    classes: number,
    readonly hidden = 64,
    readonly numLayers = 2,
    seed = 0,
  ) {
    super();
    const rng = new Rng(seed);
    // the table is used through a one-hot matMul: tf.gather's gradient (UnsortedSegmentSum) costs
    // one op per vocabulary row on the CPU backend, ~1 s a step here
    this.registerModule('embed_tokens', new Module()).registerParameter('weight', rng.normalTensor([vocab, hidden]));
    const layers = this.registerModule('layers', new Module());
    for (let l = 0; l < numLayers; l++) {
      const layer = layers.registerModule(String(l), new Module());
      layer.registerModule('norm_1', new LayerNorm(hidden));
      layer.registerModule('mixer', new Module()).registerModule('proj', new Linear(hidden, hidden, { rng }));
      layer.registerModule('norm_2', new LayerNorm(hidden));
      const mlp = layer.registerModule('mlp', new Module());
      mlp.registerModule('fc_in', new Linear(hidden, 4 * hidden, { rng }));
      mlp.registerModule('fc_out', new Linear(4 * hidden, hidden, { rng }));
    }
    this.registerModule('norm', new LayerNorm(hidden));
    this.registerModule('classifier', new Linear(hidden, classes, { rng }));
    this.dims = { modelType: 'mixer', numLayers, hiddenSize: hidden, numHeads: 1, numKvHeads: 1, headDim: hidden, vocabSize: vocab };
    const slots: Array<SiteSlot<'sublayerOutput'>> = [];
    for (let l = 0; l < numLayers; l++) {
      slots.push(new SiteSlot('sublayerOutput', { path: `layers.${l}.mixer`, layer: l, position: 'attention' }));
      slots.push(new SiteSlot('sublayerOutput', { path: `layers.${l}.mlp`, layer: l, position: 'ffn' }));
    }
    this.sites = { sublayerOutput: slots };
  }

  private run(name: string, x: tf.Tensor): tf.Tensor {
    return (this.getModule(name) as Module & { forward(x: tf.Tensor): tf.Tensor }).forward(x);
  }

  forward(batch: TokenBatch): ModelOutput {
    return tf.tidy(() => {
      const B = batch.inputIds.shape[0] as number;
      const mask = tf.expandDims(tf.cast(batch.attentionMask ?? tf.onesLike(batch.inputIds), 'float32'), -1); // [B, T, 1]
      const table = this.getModule('embed_tokens').parameter('weight')!; // [V, D]
      const oneHot = tf.oneHot(tf.cast(batch.inputIds, 'int32'), table.shape[0]); // [B, T, V]
      const embeds = tf.mul(tf.reshape(tf.matMul(tf.reshape(oneHot, [-1, table.shape[0]]), table), [B, -1, this.hidden]), mask); // [B, T, D]
      let h = tf.reshape(tf.div(tf.sum(embeds, 1), tf.sum(mask, 1)), [B, 1, this.hidden]); // [B, 1, D]
      const slots = this.sites.sublayerOutput!;
      for (let l = 0; l < this.numLayers; l++) {
        const p = `layers.${l}`;
        const a = this.run(`${p}.mixer.proj`, this.run(`${p}.norm_1`, h));
        h = tf.add(h, applySublayerOutput(slots[2 * l], a, h));
        const m = this.run(`${p}.mlp.fc_out`, tf.relu(this.run(`${p}.mlp.fc_in`, this.run(`${p}.norm_2`, h))));
        h = tf.add(h, applySublayerOutput(slots[2 * l + 1], m, h));
      }
      const logits = this.run('classifier', this.run('norm', tf.reshape(h, [B, this.hidden]))); // [B, classes]
      if (!batch.labels) return { logits };
      const C = logits.shape[1] as number;
      const loss = tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.cast(batch.labels, 'int32'), C)), 1))) as tf.Scalar;
      return { logits, loss };
    });
  }
}
