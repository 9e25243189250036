import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  checkSameOutput,
  checkSameOutputAsync,
  checkTensorShapes,
  encodeParameters,
  withDecodedTensors,
  withDecodedTensorsAsync,
} from '../src/extra-files.js';
import { decodeTensors } from '../src/io/index.js';
import { Module } from '../src/nn/module.js';

describe('extra files beside an adapter', () => {
  it("write a module's parameters under their paths and read them back with the same values", () => {
    const m = new Module();
    m.registerModule('transform', new Module()).registerParameter(
      'weight',
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
    );
    m.registerModule('embedding', new Module()).registerParameter('weight', tf.tensor1d([5, 6, 7]));
    const back = decodeTensors(encodeParameters(m), 'extra.safetensors');
    expect([...back.keys()].sort()).toEqual(['embedding.weight', 'transform.weight']);
    expect(back.get('transform.weight')!.arraySync()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(back.get('embedding.weight')!.arraySync()).toEqual([5, 6, 7]);
    tf.dispose([...back.values()]);
    m.dispose();
  });

  it('hand their tensors to a loader and dispose them after, also when the loader throws', () => {
    const m = new Module();
    m.registerParameter('weight', tf.tensor1d([1, 2]));
    const bytes = encodeParameters(m);
    const before = tf.memory().numTensors;
    expect(withDecodedTensors(bytes, 'extra.safetensors', (t) => [...t.get('weight')!.dataSync()])).toEqual([1, 2]);
    expect(() =>
      withDecodedTensors(bytes, 'extra.safetensors', () => {
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('refuse a file without exactly the expected tensors, listing every problem and naming the file', () => {
    const got = new Map([
      ['a', tf.zeros([2, 3])],
      ['c', tf.zeros([1])],
    ]);
    const want = new Map([
      ['a', [3, 2]],
      ['b', [4]],
    ]);
    expect(() => checkTensorShapes(want, got, 'extra.safetensors')).toThrow(
      'extra.safetensors: a: shape [2,3] in file, [3,2] expected; missing b; unexpected c',
    );
    expect(() =>
      checkTensorShapes(
        new Map([
          ['a', [2, 3]],
          ['c', [1]],
        ]),
        got,
        'extra.safetensors',
      ),
    ).not.toThrow();
    tf.dispose([...got.values()]);
  });

  it('refuse encoder weights that do not reproduce the saved output (relative 1e-4)', () => {
    const saved = tf.tensor1d([100, -200]);
    const close = tf.tensor1d([100.01, -200]);
    const stale = tf.tensor1d([100, -199]);
    expect(() => checkSameOutput(close, saved, 'extra.safetensors', 'prompt_embeddings')).not.toThrow();
    expect(() => checkSameOutput(stale, saved, 'extra.safetensors', 'prompt_embeddings')).toThrow(
      /^extra\.safetensors: the encoder weights do not reproduce prompt_embeddings of adapter_model\.safetensors \(max diff 1\); delete the stale extra\.safetensors/,
    );
    tf.dispose([saved, close, stale]);
  });

  it('check the saved output with await data() too (WebGPU has no synchronous read in Node or a worker), leaking nothing', async () => {
    const saved = tf.tensor1d([100, -200]);
    const close = tf.tensor1d([100.01, -200]);
    const stale = tf.tensor1d([100, -199]);
    const before = tf.memory().numTensors;
    await expect(checkSameOutputAsync(close, saved, 'extra.safetensors', 'prompt_embeddings')).resolves.toBeUndefined();
    await expect(checkSameOutputAsync(stale, saved, 'extra.safetensors', 'prompt_embeddings')).rejects.toThrow(
      /^extra\.safetensors: the encoder weights do not reproduce prompt_embeddings of adapter_model\.safetensors \(max diff 1\)/,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([saved, close, stale]);
  });

  it('hand their tensors to an async loader and dispose them once it settles, also when it rejects', async () => {
    const m = new Module();
    m.registerParameter('weight', tf.tensor1d([1, 2]));
    const bytes = encodeParameters(m);
    const before = tf.memory().numTensors;
    expect(await withDecodedTensorsAsync(bytes, 'extra.safetensors', async (t) => [...(await t.get('weight')!.data())])).toEqual([1, 2]);
    await expect(
      withDecodedTensorsAsync(bytes, 'extra.safetensors', async () => {
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
