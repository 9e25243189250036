import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createEmbConv1d, createMlp, embConv1dBatch, forwardLogits, maxAbsDiff, mlpBatch, withTmpDir } from '../src/index.js';

describe('test models', () => {
  it('an MLP made twice with the same seed has the same weights', () => {
    const a = createMlp({ seed: 3 });
    const b = createMlp({ seed: 3 });
    const pairs = a.namedParameters().map(([n, v], i) => [n, maxAbsDiff(v, b.namedParameters()[i][1])]);
    expect(pairs).toEqual([
      ['lin0.weight', 0],
      ['lin0.bias', 0],
      ['lin1.weight', 0],
      ['lin1.bias', 0],
    ]);
    a.dispose();
    b.dispose();
  });

  it('the MLP computes lin1(relu(lin0(x))) and an MSE loss', () => {
    const m = createMlp({ inFeatures: 2, hiddenSize: 2, outFeatures: 1 });
    m.lin0.weight.assign(
      tf.tensor2d([
        [1, 0],
        [0, -1],
      ]),
    );
    m.lin0.bias!.assign(tf.tensor1d([0, 0]));
    m.lin1.weight.assign(tf.tensor2d([[2, 3]]));
    m.lin1.bias!.assign(tf.tensor1d([1]));
    const out = m.forward({
      x: tf.tensor2d([
        [1, 2],
        [-1, -2],
      ]),
      labels: tf.tensor2d([[3], [7]]),
    });
    // row 0: relu([1, -2]) = [1, 0] → 3;  row 1: relu([-1, 2]) = [0, 2] → 7
    expect(Array.from(out.logits.dataSync())).toEqual([3, 7]);
    expect(out.loss!.dataSync()[0]).toBe(0);
    m.dispose();
  });

  it('the MLP cross-entropy of uniform logits is log(classes)', () => {
    const m = createMlp({ outFeatures: 4, loss: 'ce' });
    for (const [, v] of m.lin1.namedParameters()) v.assign(tf.zerosLike(v));
    const batch = mlpBatch(m, { batchSize: 3 });
    expect(batch.labels!.dtype).toBe('int32');
    expect(m.forward(batch).loss!.dataSync()[0]).toBeCloseTo(Math.log(4), 5);
    m.dispose();
  });

  it('the MLP declares a sublayerOutput site of two slots and lin1 as its head', () => {
    const m = createMlp();
    expect(m.sites.sublayerOutput!.map((s) => s.info.position)).toEqual(['attention', 'ffn']);
    expect(m.outputHeadPaths).toEqual(['lin1']);
    expect(m.dims.modelType).toBe('peftjs-mlp');
    m.dispose();
  });

  it('the token model gives [B, T, V] logits and ignores -100 labels in its loss', () => {
    const m = createEmbConv1d();
    const batch = embConv1dBatch(m, { batchSize: 2, seqLen: 3 });
    const out = m.forward(batch);
    expect(out.logits.shape).toEqual([2, 3, 11]);
    expect(Array.from(batch.labels!.dataSync())[2]).toBe(-100);
    expect(Number.isFinite(out.loss!.dataSync()[0])).toBe(true);
    m.dispose();
  });

  it('the token model is causal: a later token does not change earlier logits', () => {
    const m = createEmbConv1d();
    const a = forwardLogits(m, { inputIds: tf.tensor2d([[1, 2, 3]], [1, 3], 'int32') });
    const b = forwardLogits(m, { inputIds: tf.tensor2d([[1, 2, 9]], [1, 3], 'int32') });
    expect(maxAbsDiff(tf.slice(a, [0, 0, 0], [1, 2, 11]), tf.slice(b, [0, 0, 0], [1, 2, 11]))).toBe(0);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(0);
    m.dispose();
  });

  it('the token model declares inputEmbeddings and one attentionKV slot', () => {
    const m = createEmbConv1d();
    expect(m.sites.inputEmbeddings!.kind).toBe('inputEmbeddings');
    expect(m.sites.attentionKV!.length).toBe(1);
    expect(m.dims).toMatchObject({ modelType: 'peftjs-tiny-seq', numKvHeads: 1, headDim: 8, vocabSize: 11 });
    m.dispose();
  });

  it('withTmpDir removes its directory after the callback', async () => {
    const { stat } = await import('node:fs/promises');
    const dir = await withTmpDir((d) => d);
    await expect(stat(dir)).rejects.toThrow();
  });
});
