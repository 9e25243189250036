import * as tf from '@tensorflow/tfjs-core';
import { Module, checkSameOutputAsync, checkTensorShapes, kaimingUniform, linear, type Rng } from '@peftjs/core';
import type { EncoderReparameterizationType } from './config.js';
import { bidirectionalLstm, type LstmWeights } from './math.js';

export interface PromptEncoderSizes {
  numVirtualTokens: number;
  tokenDim: number;
  /** encoder_hidden_size. */
  hiddenSize: number;
  /** encoder_num_layers (LSTM only). */
  numLayers: number;
}

/** Sets `path` (dotted) below `root` to a new parameter, creating the modules on the way. */
function setParameter(root: Module, path: string, value: tf.Tensor, trainable: boolean): void {
  const parts = path.split('.');
  let m = root;
  for (const p of parts.slice(0, -1)) m = m.child(p) ?? m.registerModule(p, new Module());
  m.registerParameter(parts[parts.length - 1], value, trainable);
}

/**
 * PEFT's `PromptEncoder` (Liu et al., "GPT Understands, Too"): virtual token embeddings
 * reparameterised by `mlp_head` (Linear → ReLU → Linear → ReLU → Linear) or by a bidirectional
 * `lstm_head` followed by `mlp_head` (Linear → ReLU → Linear). Parameter names are PEFT's.
 *
 * Loaded from PEFT's file alone it holds only its output, as `embedding.weight` (PEFT's
 * inference mode); `loadEncoder` brings the heads back from our encoder file.
 */
export class PromptEncoder {
  readonly params = new Module();
  private savedOutput: tf.Tensor | null = null;

  constructor(
    readonly sizes: PromptEncoderSizes,
    readonly type: EncoderReparameterizationType,
    private readonly opts: { dropout: number; rng: Rng; tableOnly: boolean },
  ) {
    const { numVirtualTokens: n, tokenDim: td } = sizes;
    if (opts.tableOnly) {
      setParameter(this.params, 'embedding.weight', opts.rng.normalTensor([n, td]), true);
      return;
    }
    for (const [name, shape] of this.encoderShapes()) setParameter(this.params, name, this.initial(name, shape), true);
  }

  /** torch's initialisation: Embedding N(0, 1); Linear kaiming-uniform(√5), bias U(±1/√in); LSTM U(±1/√H). */
  private initial(name: string, shape: number[]): tf.Tensor {
    const rng = this.opts.rng;
    if (name === 'embedding.weight') return rng.normalTensor(shape);
    if (name.startsWith('lstm_head.')) {
      const b = 1 / Math.sqrt(this.sizes.hiddenSize);
      return rng.uniformTensor(shape, -b, b);
    }
    if (name.endsWith('.weight')) return kaimingUniform(shape as [number, number], Math.sqrt(5), rng);
    const fanIn = this.encoderShapes().get(name.replace(/bias$/, 'weight'))![1];
    return rng.uniformTensor(shape, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
  }

  /** Names and shapes of the encoder weights (PEFT's `PromptEncoder.state_dict()` in training mode). */
  encoderShapes(): Map<string, number[]> {
    const { numVirtualTokens: n, tokenDim: td, hiddenSize: h, numLayers } = this.sizes;
    const out = new Map<string, number[]>([['embedding.weight', [n, td]]]);
    if (this.type === 'MLP') {
      for (const [i, inF, outF] of [
        [0, td, h],
        [2, h, h],
        [4, h, td],
      ]) {
        out.set(`mlp_head.${i}.weight`, [outF, inF]);
        out.set(`mlp_head.${i}.bias`, [outF]);
      }
      return out;
    }
    for (let k = 0; k < numLayers; k++) {
      for (const s of ['', '_reverse']) {
        out.set(`lstm_head.weight_ih_l${k}${s}`, [4 * h, k === 0 ? td : 2 * h]);
        out.set(`lstm_head.weight_hh_l${k}${s}`, [4 * h, h]);
        out.set(`lstm_head.bias_ih_l${k}${s}`, [4 * h]);
        out.set(`lstm_head.bias_hh_l${k}${s}`, [4 * h]);
      }
    }
    for (const [i, inF, outF] of [
      [0, 2 * h, 2 * h],
      [2, 2 * h, td],
    ]) {
      out.set(`mlp_head.${i}.weight`, [outF, inF]);
      out.set(`mlp_head.${i}.bias`, [outF]);
    }
    return out;
  }

  /** True while the heads are present (false in table mode). */
  get reparameterised(): boolean {
    return this.params.child('mlp_head') !== undefined;
  }

  get embedding(): tf.Variable {
    return this.params.child('embedding')!.parameter('weight')!;
  }

  /** The virtual token embeddings [n, td]: the encoder's output, or the table. */
  output(training: boolean): tf.Tensor {
    if (!this.reparameterised) return this.embedding;
    return encoderOutput(
      this.type,
      (name) => this.params.getModule(name.slice(0, name.lastIndexOf('.'))).parameter(name.slice(name.lastIndexOf('.') + 1))!,
      this.sizes.numLayers,
      {
        dropout: this.opts.dropout,
        training,
        rng: this.opts.rng,
      },
    );
  }

  /** The output to save (eval mode); valid until the next call. */
  outputForSave(): tf.Tensor {
    if (!this.reparameterised) return this.embedding;
    this.savedOutput?.dispose();
    this.savedOutput = tf.tidy(() => tf.clone(this.output(false)));
    return this.savedOutput;
  }

  /** Takes PEFT's saved output as the virtual tokens: a table from now on (the heads are dropped). */
  useTable(table: tf.Tensor): void {
    const trainable = this.embedding.trainable;
    for (const head of ['mlp_head', 'lstm_head']) this.params.deleteModule(head)?.dispose();
    setParameter(
      this.params,
      'embedding.weight',
      tf.tidy(() => tf.cast(table, 'float32')),
      trainable,
    );
  }

  /** Restores the heads from our encoder file, checking they reproduce the table they replace. */
  async loadEncoder(tensors: Map<string, tf.Tensor>, file: string): Promise<void> {
    checkTensorShapes(this.encoderShapes(), tensors, file);
    if (!this.reparameterised) {
      const fromEncoder = tf.tidy(() =>
        encoderOutput(this.type, (k) => tensors.get(k)!, this.sizes.numLayers, { dropout: 0, training: false, rng: this.opts.rng }),
      );
      try {
        await checkSameOutputAsync(fromEncoder, this.embedding, file, 'prompt_embeddings');
      } finally {
        fromEncoder.dispose();
      }
    }
    const trainable = this.embedding.trainable;
    for (const head of ['mlp_head', 'lstm_head']) this.params.deleteModule(head)?.dispose();
    for (const [name] of this.encoderShapes()) setParameter(this.params, name, tf.cast(tensors.get(name)!, 'float32'), trainable);
  }

  dispose(): void {
    this.savedOutput?.dispose();
    this.savedOutput = null;
    this.params.dispose();
  }
}

/**
 * The encoder's output from its weights, looked up by PEFT's names.
 * MLP: W4·relu(W2·relu(W0·e)).   LSTM: W2·relu(W0·BiLSTM(e)).   e: [n, td] → [n, td]
 */
export function encoderOutput(
  type: EncoderReparameterizationType,
  weight: (name: string) => tf.Tensor,
  numLayers: number,
  opts: { dropout: number; training: boolean; rng: Rng },
): tf.Tensor {
  return tf.tidy(() => {
    const lin = (x: tf.Tensor, i: number) => linear(x, weight(`mlp_head.${i}.weight`), weight(`mlp_head.${i}.bias`));
    const e = weight('embedding.weight');
    if (type === 'MLP') return lin(tf.relu(lin(tf.relu(lin(e, 0)), 2)), 4);
    const dir = (k: number, s: string): LstmWeights => ({
      weightIh: weight(`lstm_head.weight_ih_l${k}${s}`),
      weightHh: weight(`lstm_head.weight_hh_l${k}${s}`),
      biasIh: weight(`lstm_head.bias_ih_l${k}${s}`),
      biasHh: weight(`lstm_head.bias_hh_l${k}${s}`),
    });
    const layers = Array.from({ length: numLayers }, (_, k) => ({ forward: dir(k, ''), backward: dir(k, '_reverse') }));
    return lin(tf.relu(lin(bidirectionalLstm(e, layers, opts), 0)), 2);
  });
}
