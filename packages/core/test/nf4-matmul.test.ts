import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  bytesToInt32Words,
  nf4MatMul,
  registerPeftKernel,
  type Nf4MatMulAttrs,
  type Nf4MatMulInput,
  type PeftKernelArgs,
} from '../src/index.js';

// A made-up 16-entry table (core knows no NF4 values) and a made-up 8-bit map.
const CODE = Float32Array.from({ length: 16 }, (_, i) => (i - 7.5) / 7.5 + 0.01 * i * i);
const MAP8 = Float32Array.from({ length: 256 }, (_, i) => Math.fround((i - 127) / 128));

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Random quantized weight in the documented byte layout, and its dequantization written from the JSDoc. */
function makeCase(out: number, inF: number, blockSize: number, doubleQuant: boolean, nbs = 4) {
  const rnd = lcg(out * 131 + inF);
  const n = out * inF;
  const nblocks = Math.ceil(n / blockSize);
  const bytes = Uint8Array.from({ length: Math.ceil(n / 2) }, () => Math.floor(rnd() * 256));
  const absCodes = Uint8Array.from({ length: nblocks }, () => Math.floor(rnd() * 256));
  const absF = Float32Array.from({ length: nblocks }, () => rnd() + 0.1);
  const nested = Float32Array.from({ length: Math.ceil(nblocks / nbs) }, () => rnd() + 0.5);
  const offset = Math.fround(0.25);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = bytes[i >> 1];
    const nib = i & 1 ? byte & 15 : byte >> 4;
    const b = Math.floor(i / blockSize);
    const scale = doubleQuant ? Math.fround(Math.fround(MAP8[absCodes[b]] * nested[Math.floor(b / nbs)]) + offset) : absF[b];
    w[i] = Math.fround(CODE[nib] * scale);
  }
  const attrs: Nf4MatMulAttrs = {
    outFeatures: out,
    inFeatures: inF,
    blockSize,
    doubleQuant,
    nestedBlockSize: nbs,
    offset,
    transposed: false,
  };
  const inputs = {
    packed: tf.tensor1d(bytesToInt32Words(bytes), 'int32'),
    absmax: doubleQuant ? tf.tensor1d(bytesToInt32Words(absCodes), 'int32') : tf.tensor1d(absF),
    code: tf.tensor1d(CODE),
    nestedAbsmax: doubleQuant ? tf.tensor1d(nested) : tf.zeros([1]),
    nestedCode: doubleQuant ? tf.tensor1d(MAP8) : tf.zeros([1]),
  };
  return { attrs, inputs, w: tf.tensor2d(w, [out, inF]) };
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];

let unregister: (() => void) | undefined;
afterEach(() => unregister?.());

describe('PeftNf4MatMul', () => {
  for (const [out, inF, bs, dq] of [
    [6, 10, 8, false],
    [7, 9, 16, true],
    [3, 64, 64, true],
  ] as const) {
    it(`the fallback equals x·Wᵀ with W dequantized as documented (${out}×${inF}, block ${bs}, double quant ${dq})`, () => {
      const { attrs, inputs, w } = makeCase(out, inF, bs, dq);
      const x = tf.randomNormal([5, inF], 0, 1, 'float32', 3);
      expect(maxDiff(nf4MatMul({ x, ...inputs }, attrs), tf.matMul(x, w, false, true))).toBeLessThan(1e-5);
      const xt = tf.randomNormal([5, out], 0, 1, 'float32', 4);
      expect(maxDiff(nf4MatMul({ x: xt, ...inputs }, { ...attrs, transposed: true }), tf.matMul(xt, w))).toBeLessThan(1e-5);
    });
  }

  it('its gradient is dy·W for x; the fallback keeps no float weight after the call', () => {
    const { attrs, inputs, w } = makeCase(7, 9, 16, true);
    const x = tf.randomNormal([4, 9], 0, 1, 'float32', 5);
    const f = (xx: tf.Tensor) => tf.sum(tf.square(nf4MatMul({ x: xx, ...inputs }, attrs)));
    const before = tf.memory().numTensors;
    const g = tf.grad(f)(x);
    expect(tf.memory().numTensors).toBe(before + 1);
    const ref = tf.grad((xx: tf.Tensor) => tf.sum(tf.square(tf.matMul(xx, w, false, true))))(x);
    expect(maxDiff(g, ref)).toBeLessThan(1e-4);
  });

  it('a registered kernel runs for both directions of the op (forward and input gradient)', () => {
    const { attrs, inputs } = makeCase(6, 10, 8, false);
    const seen: boolean[] = [];
    unregister = registerPeftKernel(
      nf4MatMul,
      tf.getBackend(),
      ({ inputs: inp, attrs: a }: PeftKernelArgs<Nf4MatMulInput, Nf4MatMulAttrs>) => {
        seen.push(a.transposed);
        return tf.engine().runKernel('Identity', {
          x: tf.zeros(a.transposed ? [inp.x.shape[0], a.inFeatures] : [inp.x.shape[0], a.outFeatures]),
        }) as tf.TensorInfo;
      },
    );
    const x = tf.randomNormal([2, 10], 0, 1, 'float32', 6);
    tf.grad((xx: tf.Tensor) => tf.sum(nf4MatMul({ x: xx, ...inputs }, attrs)))(x);
    expect(seen).toEqual([false, true]);
  });
});
