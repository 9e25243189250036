import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@peftjs/core';
import {
  loadModel,
  geluExact,
  rotaryCosSin,
  inverseFrequencies,
  attentionBias,
  FLOAT32_MIN,
  BertForTokenClassification,
  BertForSequenceClassification,
  GPT2LMHeadModel,
  type PretrainedModel,
} from '../src/index.js';
import { FIXTURES, readTensors } from './fixtures.js';

/** Mean of −log softmax(logits)[label] over labels ≠ −100, in float64. */
function referenceCE(logits: number[][], labels: number[]): number {
  let sum = 0;
  let n = 0;
  labels.forEach((y, i) => {
    if (y === -100) return;
    const row = logits[i];
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    sum += lse - row[y];
    n++;
  });
  return sum / n;
}

let llama: PretrainedModel;
let io: Record<string, tf.Tensor>;
beforeAll(async () => {
  llama = await loadModel(join(FIXTURES, 'llama/base'));
  io = await readTensors(join(FIXTURES, 'llama/base/io_base.safetensors'));
});
afterAll(() => {
  llama.dispose();
  tf.dispose(Object.values(io));
});

describe('losses', () => {
  it('causal LM loss is the shifted cross-entropy, mean over labels that are not -100', () => {
    const ids = io.input_ids.arraySync() as number[][];
    const labels = ids.map((r) => r.map((v, t) => (t === 3 ? -100 : v)));
    const out = llama.forward({ inputIds: io.input_ids, attentionMask: io.attention_mask, labels: tf.tensor2d(labels, [2, 7], 'int32') });
    const logits = out.logits.arraySync() as number[][][];
    const flatLogits: number[][] = [];
    const flatLabels: number[] = [];
    for (let b = 0; b < 2; b++)
      for (let t = 0; t < 6; t++) {
        flatLogits.push(logits[b][t]);
        flatLabels.push(labels[b][t + 1]);
      }
    expect(out.loss!.dataSync()[0]).toBeCloseTo(referenceCE(flatLogits, flatLabels), 5);
    tf.dispose([out.logits, out.loss!]);
  });

  it('BERT heads: sequence classification CE over [B] labels, token classification CE ignoring -100', async () => {
    const cfg = JSON.parse(readFileSync(join(FIXTURES, 'bert/base/config.json'), 'utf8'));
    const seq = (await loadModel(join(FIXTURES, 'bert/base'))) as BertForSequenceClassification;
    const s = seq.forward({ inputIds: io.input_ids, attentionMask: io.attention_mask, labels: tf.tensor1d([2, 0], 'int32') });
    expect(s.loss!.dataSync()[0]).toBeCloseTo(referenceCE(s.logits.arraySync() as number[][], [2, 0]), 5);
    const tok = new BertForTokenClassification(cfg, { rng: new Rng(1) }).eval();
    const labels = [
      [0, 1, 2, 0, 1, -100, -100],
      [1, 1, -100, 2, 0, 2, 1],
    ];
    const t = tok.forward({ inputIds: io.input_ids, attentionMask: io.attention_mask, labels: tf.tensor2d(labels, [2, 7], 'int32') });
    expect(t.logits.shape).toEqual([2, 7, 3]);
    const flat = (t.logits.arraySync() as number[][][]).flat();
    expect(t.loss!.dataSync()[0]).toBeCloseTo(referenceCE(flat, labels.flat()), 5);
    tf.dispose([s.logits, s.loss!, t.logits, t.loss!]);
    seq.dispose();
    tok.dispose();
  });
});

describe('numerics', () => {
  it('exact GELU has erf gradient Φ(x) + x·φ(x)', () => {
    const xs = [-3, -1, -0.2, 0, 0.5, 2];
    const g = tf
      .grad((x: tf.Tensor) => tf.sum(geluExact(x)))(tf.tensor1d(xs))
      .dataSync();
    const erf = (x: number) => {
      // Abramowitz–Stegun 7.1.26 is enough for 1e-4
      const t = 1 / (1 + 0.3275911 * Math.abs(x));
      const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
      return Math.sign(x) * y;
    };
    xs.forEach((x, i) =>
      expect(g[i]).toBeCloseTo(0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI), 4),
    );
  });

  it('linear rope scaling divides positions by the factor; inv_freq = 1/θ^(2i/d)', () => {
    expect(Array.from(inverseFrequencies(4, 10000))).toEqual([1, Math.fround(1 / 100)]);
    const scaled = rotaryCosSin([[0, 1, 2, 3]], 8, 10000, { type: 'linear', factor: 2 });
    const plain = rotaryCosSin([[0, 0.5, 1, 1.5]], 8, 10000, null);
    expect(Array.from(scaled.cos.dataSync())).toEqual(Array.from(plain.cos.dataSync()));
    expect(Array.from(scaled.sin.dataSync())).toEqual(Array.from(plain.sin.dataSync()));
    tf.dispose([scaled.cos, scaled.sin, plain.cos, plain.sin]);
  });

  it('attention bias: float32 min on padded and future keys, prefix keys always open', () => {
    const bias = attentionBias(tf.tensor2d([[1, 1, 0]]), 1, 3, true);
    expect(bias.shape).toEqual([1, 1, 3, 4]);
    const M = Math.fround(FLOAT32_MIN);
    expect(bias.arraySync()).toEqual([
      [
        [
          [0, 0, M, M],
          [0, 0, 0, M],
          [0, 0, 0, M],
        ],
      ],
    ]);
    bias.dispose();
  });
});

describe('model behaviour', () => {
  it('forward leaks no tensors, in eval and in training mode with dropout', async () => {
    const gpt2 = (await loadModel(join(FIXTURES, 'gpt2/base'))) as GPT2LMHeadModel;
    const before = tf.memory().numTensors;
    for (const training of [false, true]) {
      gpt2.train(training);
      const out = gpt2.forward({ inputIds: io.input_ids, attentionMask: io.attention_mask, labels: io.input_ids });
      tf.dispose([out.logits, out.loss!]);
    }
    expect(tf.memory().numTensors).toBe(before);
    gpt2.dispose();
  });

  it('dropout is active only in training mode', async () => {
    const gpt2 = await loadModel(join(FIXTURES, 'gpt2/base'));
    const run = () => gpt2.forward({ inputIds: io.input_ids }).logits;
    const [a, b] = [run(), run()];
    gpt2.train();
    const c = run();
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    expect(tf.max(tf.abs(tf.sub(a, c))).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([a, b, c]);
    gpt2.dispose();
  });

  it('logitsToKeep: 1 gives the last position of the full logits', () => {
    const full = llama.forward({ inputIds: io.input_ids }).logits; // [2, 7, 128]
    const last = llama.forward({ inputIds: io.input_ids, logitsToKeep: 1 }).logits;
    expect(last.shape).toEqual([2, 1, 128]);
    // Equal up to float summation order, relative to the largest logit: a backend's GEMM may sum
    // the one-row product in another order than the seven-row one (1e-7 of it on wasm, 0 on cpu);
    // any other row differs by about 1× it.
    const [diff, scale] = tf.tidy(() => {
      const want = tf.slice(full, [0, 6, 0], [2, 1, 128]);
      return [tf.max(tf.abs(tf.sub(want, last))).dataSync()[0], tf.max(tf.abs(want)).dataSync()[0]];
    });
    expect(scale).toBeGreaterThan(0);
    expect(diff).toBeLessThanOrEqual(1e-5 * scale);
    tf.dispose([full, last]);
  });

  it('learned positions beyond n_positions are an error naming the limit', async () => {
    const gpt2 = await loadModel(join(FIXTURES, 'gpt2/base'));
    const ids = tf.zeros([1, 65], 'int32');
    expect(() => gpt2.forward({ inputIds: ids })).toThrow(
      /position 64 exceeds the position table \(max_position_embeddings \/ n_positions = 64\)/,
    );
    ids.dispose();
    gpt2.dispose();
  });

  it('gradients flow to every llama parameter from the LM loss', () => {
    const vars = llama.namedParameters().map(([, v]) => v);
    const { grads } = tf.variableGrads(() => llama.forward({ inputIds: io.input_ids, labels: io.input_ids }).loss as tf.Scalar, vars);
    expect(Object.keys(grads).length).toBe(vars.length);
    for (const g of Object.values(grads)) expect(tf.sum(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose(Object.values(grads));
  });
});
