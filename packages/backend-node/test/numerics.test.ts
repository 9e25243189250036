import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allWasmFastPaths, setupBackend, setWasmFastPaths } from '../src/index.js';
import { makeStandin } from '../bench/standin.js';
import { expectClose } from './helpers.js';

const TINY = { vocab: 40, hidden: 32, layers: 2, heads: 2, ffn: 64, seq: 8, batch: 2, rank: 4 };

/** Deterministic values, the same on every backend. */
function values(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.31 + i * 1.37)),
    shape,
  );
}

/** Losses and gradients of `steps` SGD steps of the stand-in decoder (full fine-tune or LoRA). */
function sgdRun(steps: number, lora: boolean): { losses: number[]; grads: Float32Array[][] } {
  const model = makeStandin(TINY, 3);
  const vars = lora ? model.lora : model.base;
  const opt = tf.train.sgd(0.05);
  const losses: number[] = [];
  const grads: Float32Array[][] = [];
  for (let s = 0; s < steps; s++) {
    const { value, grads: g } = tf.variableGrads(() => model.loss(lora), vars);
    losses.push(value.dataSync()[0]!);
    grads.push(vars.map((v) => g[v.name]!.dataSync() as Float32Array));
    opt.applyGradients(g);
    tf.dispose([value, ...Object.values(g)]);
  }
  opt.dispose();
  model.dispose();
  return { losses, grads };
}

/** An MLP with an embedding: gather → linear ([out, in] weights, transposeB) → tanh → linear → CE. */
function mlpGrads(): Float32Array[] {
  return tf.tidy(() => {
    const E = values([20, 12], 1);
    const W1 = values([24, 12], 2);
    const W2 = values([5, 24], 3);
    const ids = tf.tensor1d([3, 7, 7, 19, 0, 3], 'int32');
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), 5);
    const f = (e: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor) => {
      const h = tf.tanh(tf.matMul(tf.gather(e, ids), w1, false, true));
      const logits = tf.matMul(h, w2, false, true);
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), labels), -1)));
    };
    return tf
      .grads(f)([E, W1, W2])
      .map((g) => g.dataSync() as Float32Array);
  });
}

const CASES: Array<[string, number[], number[], boolean, boolean]> = [
  ['2-D', [6, 5], [5, 4], false, false],
  ['2-D, transposeB', [6, 5], [4, 5], false, true],
  ['2-D, transposeA', [5, 6], [5, 4], true, false],
  ['2-D, both transposed', [5, 6], [4, 5], true, true],
  ['batched (attention)', [3, 6, 5], [3, 5, 4], false, false],
  ['batched, transposeB (q·kᵀ)', [3, 6, 5], [3, 4, 5], false, true],
  ['batched, transposeA', [3, 5, 6], [3, 5, 4], true, false],
  ['batched, both transposed', [3, 5, 6], [3, 4, 5], true, true],
];

describe('wasm fast paths give the values of the stock ops on cpu', () => {
  beforeAll(async () => {
    await setupBackend({ prefer: 'wasm' });
  });
  afterAll(async () => {
    setWasmFastPaths(allWasmFastPaths(true));
    await tf.setBackend('cpu');
  });

  it("the wasm BatchMatMul kernel is this package's", () => {
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc.name).toBe('fastBatchMatMul');
  });

  it.each(CASES)('matMul %s: forward and both gradients', async (_, sa, sb, ta, tb) => {
    const run = () =>
      tf.tidy(() => {
        const a = values(sa, 1);
        const b = values(sb, 2);
        const dy = values(tf.matMul(a, b, ta, tb).shape, 3);
        const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), dy));
        const [ga, gb] = tf.grads(f)([a, b]);
        return [tf.matMul(a, b, ta, tb), ga!, gb!].map((t) => t.dataSync() as Float32Array);
      });
    await tf.setBackend('cpu');
    const expected = run();
    await tf.setBackend('wasm');
    const actual = run();
    actual.forEach((x, i) => expectClose(x, expected[i]!));
  });

  it('a rank-3 input times a [out, in] weight (transposeB) folds its batch and matches cpu', async () => {
    const run = () => tf.tidy(() => tf.matMul(values([4, 6, 8], 1), values([5, 8], 2), false, true).dataSync() as Float32Array);
    await tf.setBackend('cpu');
    const expected = run();
    await tf.setBackend('wasm');
    const out = tf.matMul(values([4, 6, 8], 1), values([5, 8], 2), false, true);
    expect(out.shape).toEqual([4, 6, 5]);
    expectClose(out.dataSync() as Float32Array, expected);
    out.dispose();
  });

  it('MLP with an embedding: gradients on wasm equal cpu (Gather gradient included)', async () => {
    await tf.setBackend('cpu');
    const expected = mlpGrads();
    await tf.setBackend('wasm');
    const actual = mlpGrads();
    actual.forEach((g, i) => expectClose(g, expected[i]!));
  });

  it('the Gather gradient on wasm scatter-adds repeated rows and ignores none', async () => {
    await tf.setBackend('wasm');
    const g = tf.tidy(() => {
      const E = tf.zeros([4, 2]);
      const ids = tf.tensor1d([1, 3, 1], 'int32');
      return tf.grad((e: tf.Tensor) => tf.sum(tf.mul(tf.gather(e, ids), tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]))))(E);
    });
    expect(Array.from(g.dataSync())).toEqual([0, 0, 6, 8, 0, 0, 3, 4]);
    g.dispose();
  });

  it.each([
    [
      'float32 rows, 2-D indices',
      [7, 3, 4],
      'float32',
      [
        [6, 0],
        [3, 3],
        [1, 6],
      ],
      0,
    ],
    ['int32 rows', [5, 3], 'int32', [4, 0, 4], 0],
    ['a vector (rows of one value)', [9], 'float32', [8, 2, 2, 0], 0],
    ['axis 1 (the stock kernel)', [3, 5], 'float32', [4, 1], 1],
    ['negative axis −2 (axis 0 of a matrix)', [6, 2], 'float32', [5, 1], -2],
  ] as const)('GatherV2 on wasm, %s: the values of cpu', async (_, shape, dtype, ids, axis) => {
    expect(tf.getKernel('GatherV2', 'wasm')!.kernelFunc.name).toBe('rowGather');
    const run = () =>
      tf.tidy(() => {
        const x = dtype === 'int32' ? tf.cast(tf.mul(values([...shape], 4), 100), 'int32') : values([...shape], 4);
        const out = tf.gather(x, tf.tensor(ids as unknown as number[], undefined, 'int32'), axis);
        return { shape: out.shape, dtype: out.dtype, data: Array.from(out.dataSync()) };
      });
    await tf.setBackend('cpu');
    const expected = run();
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    expect(run()).toEqual(expected);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('GatherV2 on wasm: an index out of range throws the stock message and allocates nothing', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([4, 3]);
    const before = tf.memory();
    for (const bad of [4, -1]) {
      expect(() => tf.gather(x, tf.tensor1d([0, bad], 'int32'))).toThrow(`GatherV2: the index value ${bad} is not in [0, 3]`);
    }
    expect(tf.memory().numBytes).toBe(before.numBytes + 2 * 8); // only the two index tensors
    x.dispose();
  });

  it('the stock Gather gradient fails on wasm (why the replacement exists)', async () => {
    await tf.setBackend('wasm');
    setWasmFastPaths({ gatherGradient: false });
    try {
      expect(() => tf.tidy(() => tf.grad((e: tf.Tensor) => tf.sum(tf.gather(e, tf.tensor1d([0], 'int32'))))(tf.ones([2, 2])))).toThrow(
        /UnsortedSegmentSum/,
      );
    } finally {
      setWasmFastPaths({ gatherGradient: true });
    }
  });

  it.each([
    ['full fine-tune', false],
    ['LoRA', true],
  ])('3 SGD steps of a decoder with attention (%s): losses and gradients equal cpu', async (_, lora) => {
    await tf.setBackend('cpu');
    const expected = sgdRun(3, lora as boolean);
    await tf.setBackend('wasm');
    const actual = sgdRun(3, lora as boolean);
    expectClose(actual.losses, expected.losses);
    actual.grads.forEach((step, s) => step.forEach((g, i) => expectClose(g, expected.grads[s]![i]!)));
  });

  it('with the fast paths off, wasm gives the same losses as with them on', async () => {
    await tf.setBackend('wasm');
    const fast = sgdRun(2, true);
    setWasmFastPaths({ ...allWasmFastPaths(false), gatherGradient: true });
    const stock = sgdRun(2, true);
    setWasmFastPaths(allWasmFastPaths(true));
    expectClose(fast.losses, stock.losses);
  });
});

describe('memory', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('20 Adam steps on wasm leave tf.memory().numTensors unchanged', async () => {
    await setupBackend({ prefer: 'wasm' });
    const model = makeStandin(TINY, 5);
    const opt = tf.train.adam(1e-3);
    const step = () => opt.minimize(() => model.loss(true), false, [...model.lora, ...model.base]);
    step(); // Adam creates its moment variables on the first step
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = tf.memory().numTensors;
    const buffersBefore = backend.numDataIds(); // includes the kernel's cached weight transposes
    for (let i = 0; i < 20; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    expect(backend.numDataIds()).toBe(buffersBefore);
    opt.dispose();
    model.dispose();
  });
});
