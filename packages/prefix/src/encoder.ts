import * as tf from '@tensorflow/tfjs-core';
import { Module, checkSameOutputAsync, checkTensorShapes, kaimingUniform, type Rng } from '@peftjs/core';
import { layerColumns, prefixProjection } from './math.js';

export interface PrefixSizes {
  numVirtualTokens: number;
  /** kvHeads · headDim. */
  tokenDim: number;
  numLayers: number;
  kvHeads: number;
  headDim: number;
  encoderHiddenSize: number;
}

/** `nn.Linear`'s parameters with torch's initialisation: W [out, in] kaiming-uniform(√5), b U(±1/√in). */
function linearModule(inF: number, outF: number, rng: Rng, zero = false): Module {
  const m = new Module();
  const bound = 1 / Math.sqrt(inF);
  m.registerParameter('weight', zero ? tf.zeros([outF, inF]) : kaimingUniform([outF, inF], Math.sqrt(5), rng));
  m.registerParameter('bias', zero ? tf.zeros([outF]) : rng.uniformTensor([outF], -bound, bound));
  return m;
}

/**
 * PEFT's `PrefixEncoder`, shared by the `attentionKV` hooks of every layer. Its parameters keep
 * PEFT's names: `embedding.weight` [n, L·2·td] without projection; with `prefix_projection`,
 * `embedding.weight` [n, td] and `transform.0` (td → h), `transform.2` (h → L·2·td).
 *
 * A projected encoder loaded from PEFT's file alone holds only its output as a table (PEFT's
 * inference mode); `loadEncoder` brings the MLP back from our encoder file.
 */
export class PrefixEncoder {
  readonly params = new Module();
  private savedOutput: tf.Tensor | null = null;

  constructor(
    readonly sizes: PrefixSizes,
    /** Li & Liang's reparameterisation; absent in table mode. */
    readonly prefixProjection: boolean,
    opts: { zero: boolean; rng: Rng; tableOnly: boolean },
  ) {
    const { numVirtualTokens: n, tokenDim: td, numLayers: L, encoderHiddenSize: h } = sizes;
    const embedding = this.params.registerModule('embedding', new Module());
    if (prefixProjection && !opts.tableOnly) {
      embedding.registerParameter('weight', opts.rng.normalTensor([n, td]));
      const transform = this.params.registerModule('transform', new Module());
      transform.registerModule('0', linearModule(td, h, opts.rng));
      transform.registerModule('2', linearModule(h, L * 2 * td, opts.rng, opts.zero));
    } else {
      embedding.registerParameter('weight', opts.zero ? tf.zeros([n, L * 2 * td]) : opts.rng.normalTensor([n, L * 2 * td]));
    }
  }

  /** True while the projection MLP is present (false without projection and in table mode). */
  get reparameterised(): boolean {
    return this.params.child('transform') !== undefined;
  }

  get embedding(): tf.Variable {
    return this.params.child('embedding')!.parameter('weight')!;
  }

  private transform(i: '0' | '2', p: 'weight' | 'bias'): tf.Variable {
    return this.params.child('transform')!.child(i)!.parameter(p)!;
  }

  /** The whole prefix [n, L·2·td], as PEFT's `prompt_embeddings`. */
  output(): tf.Tensor {
    if (!this.reparameterised) return this.embedding;
    return prefixProjection(
      this.embedding,
      this.transform('0', 'weight'),
      this.transform('0', 'bias'),
      this.transform('2', 'weight'),
      this.transform('2', 'bias'),
    );
  }

  /** Layer l's rows [n, 2·td] (key then value); with projection only that slice of the last layer is computed. */
  layerRows(layer: number): tf.Tensor {
    return tf.tidy(() => {
      const { begin, size } = layerColumns(layer, this.sizes.tokenDim);
      const n = this.sizes.numVirtualTokens;
      if (!this.reparameterised) return tf.slice(this.embedding, [0, begin], [n, size]);
      const w2 = this.transform('2', 'weight');
      return prefixProjection(
        this.embedding,
        this.transform('0', 'weight'),
        this.transform('0', 'bias'),
        tf.slice(w2, [begin, 0], [size, w2.shape[1] as number]),
        tf.slice(this.transform('2', 'bias'), [begin], [size]),
      );
    });
  }

  /** The output to save; valid until the next call (it is recomputed then). */
  outputForSave(): tf.Tensor {
    if (!this.reparameterised) return this.embedding;
    this.savedOutput?.dispose();
    this.savedOutput = tf.tidy(() => tf.clone(this.output()));
    return this.savedOutput;
  }

  /** Takes PEFT's saved output as the prefix: a table from now on (the projection MLP is dropped). */
  useTable(table: tf.Tensor): void {
    const trainable = this.embedding.trainable;
    const transform = this.params.deleteModule('transform');
    transform?.dispose();
    this.params.child('embedding')!.registerParameter(
      'weight',
      tf.tidy(() => tf.cast(table, 'float32')),
      trainable,
    );
  }

  /** Names and shapes of the encoder weights in our encoder file (PEFT's `PrefixEncoder.state_dict()`). */
  encoderShapes(): Map<string, number[]> {
    const { numVirtualTokens: n, tokenDim: td, numLayers: L, encoderHiddenSize: h } = this.sizes;
    return new Map([
      ['embedding.weight', [n, td]],
      ['transform.0.weight', [h, td]],
      ['transform.0.bias', [h]],
      ['transform.2.weight', [L * 2 * td, h]],
      ['transform.2.bias', [L * 2 * td]],
    ]);
  }

  /** Restores the projection MLP from our encoder file, checking it reproduces the table it replaces. */
  async loadEncoder(tensors: Map<string, tf.Tensor>, file: string): Promise<void> {
    if (!this.prefixProjection) throw new Error(`${file}: this Prefix Tuning adapter has no prefix_projection, so no encoder to load`);
    checkTensorShapes(this.encoderShapes(), tensors, file);
    const t = (k: string) => tf.cast(tensors.get(k)!, 'float32');
    const fromEncoder = tf.tidy(() =>
      prefixProjection(
        t('embedding.weight'),
        t('transform.0.weight'),
        t('transform.0.bias'),
        t('transform.2.weight'),
        t('transform.2.bias'),
      ),
    );
    try {
      if (!this.reparameterised) await checkSameOutputAsync(fromEncoder, this.embedding, file, 'prompt_embeddings');
    } finally {
      fromEncoder.dispose();
    }
    const trainable = this.embedding.trainable;
    this.params.child('embedding')!.registerParameter('weight', t('embedding.weight'), trainable);
    this.params.deleteModule('transform')?.dispose();
    const transform = this.params.registerModule('transform', new Module());
    for (const i of ['0', '2'] as const) {
      const m = transform.registerModule(i, new Module());
      m.registerParameter('weight', t(`transform.${i}.weight`), trainable);
      m.registerParameter('bias', t(`transform.${i}.bias`), trainable);
    }
  }

  dispose(): void {
    this.savedOutput?.dispose();
    this.savedOutput = null;
    this.params.dispose();
  }
}
