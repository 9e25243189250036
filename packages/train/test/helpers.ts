import * as tf from '@tensorflow/tfjs-core';
import {
  Embedding,
  Linear,
  Module,
  PeftModel,
  PeftRegistry,
  Rng,
  type ModelDims,
  type ModelOutput,
  type PeftBaseModel,
  type PeftMethod,
  type SiteTable,
  type TokenBatch,
} from '@peftjs/core';
import { lora } from '@peftjs/lora';
import type { ChatMessage, EncodedExample, Tokenizer } from '../src/index.js';

/** Mean cross-entropy over labels ≠ -100. logits [N, V], labels [N]. */
function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const V = logits.shape[logits.rank - 1];
  const ids = tf.cast(tf.reshape(labels, [-1]), 'int32');
  const valid = tf.cast(tf.notEqual(ids, -100), 'float32');
  const safe = tf.where(tf.notEqual(ids, -100), ids, tf.zerosLike(ids));
  const logp = tf.sum(tf.mul(tf.logSoftmax(tf.reshape(logits, [-1, V])), tf.oneHot(safe, V)), -1);
  return tf.div(tf.neg(tf.sum(tf.mul(logp, valid))), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
}

/**
 * A bigram LM: embed (+ learned positions when `maxPositions` > 0, which lets it memorise) →
 * q_proj → tanh → v_proj → lm_head; causal loss on shifted labels.
 */
export class TinyLM extends Module implements PeftBaseModel<TokenBatch, ModelOutput> {
  readonly dims: ModelDims;
  readonly sites: SiteTable = {};
  readonly outputHeadPaths = ['lm_head'];
  constructor(
    vocab = 40,
    hidden = 16,
    seed = 1,
    readonly maxPositions = 0,
  ) {
    super();
    this.dims = { modelType: 'tiny-lm', numLayers: 1, hiddenSize: hidden, numHeads: 1, numKvHeads: 1, headDim: hidden, vocabSize: vocab };
    const rng = new Rng(seed);
    this.registerModule('embed_tokens', new Embedding(vocab, hidden, { rng }));
    this.registerModule('q_proj', new Linear(hidden, hidden, { rng }));
    this.registerModule('v_proj', new Linear(hidden, hidden, { rng }));
    this.registerModule('lm_head', new Linear(hidden, vocab, { bias: false, rng }));
    if (maxPositions > 0) this.registerModule('embed_positions', new Embedding(maxPositions, hidden, { rng }));
  }
  forward(batch: TokenBatch): ModelOutput {
    return tf.tidy(() => {
      const m = (n: string) => this.child(n) as Linear;
      let x = (this.child('embed_tokens') as Embedding).forward(batch.inputIds); // [B, T, D]
      if (this.maxPositions > 0)
        x = tf.add(x, (this.child('embed_positions') as Embedding).forward(tf.range(0, batch.inputIds.shape[1] as number, 1, 'int32')));
      const h = tf.tanh(m('v_proj').forward(tf.tanh(m('q_proj').forward(x))));
      const logits = m('lm_head').forward(h); // [B, T, V]
      if (!batch.labels) return { logits };
      const [B, T, V] = logits.shape;
      const shifted = tf.slice(logits, [0, 0, 0], [B, T - 1, V]);
      const labels = tf.slice(batch.labels, [0, 1], [B, T - 1]);
      return { logits, loss: crossEntropy(shifted, labels) };
    });
  }
}

/** Mean-pooled embeddings → q_proj → tanh → classifier; loss over [B] class labels. */
export class TinyClassifier extends Module implements PeftBaseModel<TokenBatch, ModelOutput> {
  readonly dims: ModelDims;
  readonly sites: SiteTable = {};
  readonly outputHeadPaths = ['classifier'];
  constructor(vocab = 40, hidden = 16, classes = 2, seed = 1) {
    super();
    this.dims = { modelType: 'tiny-cls', numLayers: 1, hiddenSize: hidden, numHeads: 1, numKvHeads: 1, headDim: hidden, vocabSize: vocab };
    const rng = new Rng(seed);
    this.registerModule('embed_tokens', new Embedding(vocab, hidden, { rng }));
    this.registerModule('q_proj', new Linear(hidden, hidden, { rng }));
    this.registerModule('classifier', new Linear(hidden, classes, { rng }));
  }
  forward(batch: TokenBatch): ModelOutput {
    return tf.tidy(() => {
      const e = (this.child('embed_tokens') as Embedding).forward(batch.inputIds); // [B, T, D]
      const mask = tf.expandDims(tf.cast(batch.attentionMask ?? tf.onesLike(batch.inputIds), 'float32'), -1);
      const pooled = tf.div(tf.sum(tf.mul(e, mask), 1), tf.maximum(tf.sum(mask, 1), 1)); // [B, D]
      const logits = (this.child('classifier') as Linear).forward(tf.tanh((this.child('q_proj') as Linear).forward(pooled)));
      return batch.labels ? { logits, loss: crossEntropy(logits, batch.labels) } : { logits };
    });
  }
}

export interface LoraSetup {
  r?: number;
  alpha?: number;
  dropout?: number;
  targets?: string[];
  method?: PeftMethod<any>;
  seed?: number;
}

/** A PeftModel with one LoRA adapter ("default") on a fresh base model. */
export function withLora<M extends PeftBaseModel<TokenBatch, ModelOutput>>(base: M, s: LoraSetup = {}): PeftModel<TokenBatch, ModelOutput> {
  const method = s.method ?? lora;
  const peft = new PeftModel(base, { registry: new PeftRegistry().use(method), rng: new Rng(s.seed ?? 7) });
  peft.addAdapter('default', {
    peft_type: method.type,
    r: s.r ?? 4,
    lora_alpha: s.alpha ?? 8,
    lora_dropout: s.dropout ?? 0,
    target_modules: s.targets ?? ['q_proj', 'v_proj'],
    init_lora_weights: false,
  });
  return peft;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz .,:!?';

/** Character tokenizer: 0 pad, 1 bos, 2 eos, 3… the alphabet, last id unknown. Vocabulary 36. */
export const charTokenizer: Tokenizer = {
  padTokenId: 0,
  bosTokenId: 1,
  eosTokenId: 2,
  encode: (text) => [...text.toLowerCase()].map((c) => (ALPHABET.includes(c) ? 3 + ALPHABET.indexOf(c) : 3 + ALPHABET.length)),
  decode: (ids) => ids.map((i) => (i >= 3 && i < 3 + ALPHABET.length ? ALPHABET[i - 3] : '')).join(''),
  applyChatTemplate: (messages: ChatMessage[]) => messages.map((m) => `${m.role}: ${m.content}\n`).join(''),
};

/** Causal-LM examples from short sentences (all tokens labelled). */
export function textExamples(n: number, seed = 3, len = 10): EncodedExample[] {
  const rng = new Rng(seed);
  const words = ['abc', 'hello', 'world', 'lora', 'tiny', 'model', 'peft', 'train'];
  return Array.from({ length: n }, () => {
    let s = '';
    while (s.length < len) s += `${words[rng.int(words.length)]} `;
    const ids = charTokenizer.encode(s.slice(0, len));
    return { inputIds: ids, labels: [...ids] };
  });
}
