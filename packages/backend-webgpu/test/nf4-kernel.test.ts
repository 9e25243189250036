import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToInt32Words, nf4MatMul, type Nf4MatMulAttrs } from '@peftjs/core';
import { type BackendInfo, setupWebGPU } from '../src/index.js';
import { releaseWebGPU } from '../src/release.js';

let info: BackendInfo;
beforeAll(async () => {
  info = await setupWebGPU();
});
afterAll(() => releaseWebGPU('cpu')); // Dawn must be idle before the worker exits

// bitsandbytes' NF4 table and an 8-bit map; the kernel gets them as inputs like any other table
const NF4 = [
  -1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1,
];
const MAP8 = Float32Array.from({ length: 256 }, (_, i) => Math.fround((i - 127) / 128));

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Random 4-bit weight in the op's input layout. */
function quantized(out: number, inF: number, blockSize: number, doubleQuant: boolean, nbs = 4) {
  const rnd = lcg(out * 131 + inF);
  const nblocks = Math.ceil((out * inF) / blockSize);
  const bytes = Uint8Array.from({ length: Math.ceil((out * inF) / 2) }, () => Math.floor(rnd() * 256));
  const absCodes = Uint8Array.from({ length: nblocks }, () => Math.floor(rnd() * 256));
  const attrs: Nf4MatMulAttrs = {
    outFeatures: out,
    inFeatures: inF,
    blockSize,
    doubleQuant,
    nestedBlockSize: nbs,
    offset: 0.25,
    transposed: false,
  };
  const inputs = {
    packed: tf.tensor1d(bytesToInt32Words(bytes), 'int32'),
    absmax: doubleQuant
      ? tf.tensor1d(bytesToInt32Words(absCodes), 'int32')
      : tf.tensor1d(Float32Array.from({ length: nblocks }, () => rnd() + 0.1)),
    code: tf.tensor1d(NF4),
    nestedAbsmax: doubleQuant ? tf.tensor1d(Float32Array.from({ length: Math.ceil(nblocks / nbs) }, () => rnd() + 0.5)) : tf.zeros([1]),
    nestedCode: doubleQuant ? tf.tensor1d(MAP8) : tf.zeros([1]),
  };
  return { attrs, inputs };
}

async function worst(got: tf.Tensor, want: tf.Tensor): Promise<number> {
  expect(got.shape).toEqual(want.shape);
  const [g, w] = [await got.data(), await want.data()];
  let e = 0;
  for (let i = 0; i < w.length; i++) e = Math.max(e, Math.abs(g[i]! - w[i]!) / Math.max(1, Math.abs(w[i]!)));
  return e;
}

describe("PeftNf4MatMul on webgpu equals the op's fallback", () => {
  // [rows, out, in, block, double quant]: odd sizes, blocks crossing rows
  for (const [rows, out, inF, bs, dq] of [
    [5, 7, 9, 16, true],
    [37, 45, 70, 64, false],
    [3, 130, 33, 32, true],
  ] as const) {
    it(`x [${rows}, ${inF}] with W [${out}, ${inF}] (block ${bs}, double quant ${dq}): y, the transposed product and dx within 1e-5`, async () => {
      expect(tf.getKernel('PeftNf4MatMul', 'webgpu')).toBeDefined();
      const { attrs, inputs } = quantized(out, inF, bs, dq);
      const x = tf.randomNormal([rows, inF], 0, 1, 'float32', 3);
      const xt = tf.randomNormal([rows, out], 0, 1, 'float32', 4);
      const { fallback } = nf4MatMul.spec;
      const f = (op: typeof fallback) => (xx: tf.Tensor) => tf.sum(tf.square(op({ x: xx, ...inputs }, attrs)));
      const [y, yt, dx] = await info.guard!.scoped(() => [
        nf4MatMul({ x, ...inputs }, attrs),
        nf4MatMul({ x: xt, ...inputs }, { ...attrs, transposed: true }),
        tf.grad(f((i, a) => nf4MatMul(i, a)))(x),
      ]);
      const errs = [
        await worst(y!, fallback({ x, ...inputs }, attrs)),
        await worst(yt!, fallback({ x: xt, ...inputs }, { ...attrs, transposed: true })),
        await worst(dx!, tf.grad(f(fallback))(x)),
      ];
      console.log(
        `[nf4-kernel] [${rows}, ${inF}]·[${out}, ${inF}]ᵀ block ${bs} dq ${dq}: y ${errs[0]!.toExponential(2)}, transposed ${errs[1]!.toExponential(2)}, dx ${errs[2]!.toExponential(2)}`,
      );
      for (const e of errs) expect(e).toBeLessThanOrEqual(1e-5);
      expect((await y!.data()).some((v) => v !== 0)).toBe(true);
    });
  }
});
