import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loraMatMul } from '@peftjs/core';
import { type BackendInfo, setupWebGPU } from '../src/index.js';
import { releaseWebGPU } from '../src/release.js';
import { GEMM_KERNEL, gemmOp } from '../src/kernels/register.js';

let info: BackendInfo;
beforeAll(async () => {
  info = await setupWebGPU();
});
afterAll(() => releaseWebGPU('cpu')); // Dawn must be idle before the worker exits

/** Worst |got − want| / max(1, |want|) (or / max|want| when `relative`), read asynchronously. */
async function worstError(got: tf.Tensor, want: tf.Tensor, relative = false): Promise<number> {
  expect(got.shape).toEqual(want.shape);
  const [g, w] = [await got.data(), await want.data()];
  let scale = relative ? 0 : 1;
  if (relative) for (const v of w) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!) / Math.max(scale, relative ? 0 : Math.abs(w[i]!)));
  return worst;
}

const rand = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);

// [rows N, in K, out, r]: odd sizes that are not multiples of the 64×64×16 tile, one row, a long reduction
const SHAPES: Array<[number, number, number, number]> = [
  [1, 1, 1, 1],
  [37, 45, 29, 3],
  [65, 130, 67, 16],
  [40, 600, 20, 4],
];

describe("PeftLoraMatMul on webgpu equals the op's fallback", () => {
  it('the kernels are registered on webgpu', () => {
    expect(tf.getKernel('PeftLoraMatMul', 'webgpu')).toBeDefined();
    expect(tf.getKernel(GEMM_KERNEL, 'webgpu')).toBeDefined();
  });

  for (const [n, k, out, r] of SHAPES) {
    const long = k >= 512;
    const tol = long ? 1e-4 : 1e-5;
    it(`forward and all four gradients, x [${n}, ${k}], W [${out}, ${k}], r ${r}: within ${tol}${long ? ' relative' : ''}, no device error`, async () => {
      const x = rand([n, k], 1);
      const w = rand([out, k], 2);
      const a = rand([r, k], 3);
      const b = rand([out, r], 4);
      const probe = rand([n, out], 5);
      const s = 1.75;
      const { fallback } = loraMatMul.spec;
      const loss = (f: typeof fallback) => (xx: tf.Tensor, ww: tf.Tensor, aa: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(f({ x: xx, weight: ww, loraA: aa, loraB: bb }, { scaling: s }), probe));
      const [y, grads] = await info.guard!.scoped(
        () =>
          [
            loraMatMul({ x, weight: w, loraA: a, loraB: b }, { scaling: s }),
            tf.grads(loss((i, at) => loraMatMul(i, at)))([x, w, a, b]),
          ] as const,
      );
      const yWant = fallback({ x, weight: w, loraA: a, loraB: b }, { scaling: s });
      const gWant = tf.grads(loss(fallback))([x, w, a, b]);
      const errs = [await worstError(y, yWant, long)];
      for (let i = 0; i < 4; i++) errs.push(await worstError(grads[i]!, gWant[i]!, long || i === 1 || i === 3));
      console.log(
        `[lora-kernel] [${n}, ${k}]→${out} r ${r}: y ${errs[0]!.toExponential(2)}, dx ${errs[1]!.toExponential(2)}, dW ${errs[2]!.toExponential(2)}, dA ${errs[3]!.toExponential(2)}, dB ${errs[4]!.toExponential(2)}`,
      );
      // the forward pass within `tol`; gradients (reductions over rows, or compared relative) within 1e-4
      expect(errs[0]).toBeLessThanOrEqual(tol);
      for (const e of errs) expect(e).toBeLessThanOrEqual(1e-4);
      expect((await y.data()).some((v) => v !== 0)).toBe(true);
      tf.dispose([x, w, a, b, probe, y, yWant, ...grads, ...gWant]);
    });
  }

  it('every transpose form of the product equals tf.matMul on cpu', async () => {
    const a = rand([19, 70], 6);
    const b = rand([70, 23], 7);
    const p = rand([19, 5], 8);
    const q = rand([5, 23], 9);
    const want = async (f: () => tf.Tensor) => {
      await tf.setBackend('cpu');
      const t = f();
      const v = tf.tensor(await t.data(), t.shape);
      await tf.setBackend('webgpu');
      return v;
    };
    const vals = await Promise.all([a, b, p, q].map((t) => t.data()));
    const [ca, cb, cp, cq] = [a, b, p, q].map((t, i) => () => tf.tensor(vals[i]!, t.shape));
    const cases: Array<[tf.Tensor, () => tf.Tensor]> = [
      [gemmOp(a, b), () => tf.matMul(ca(), cb())],
      [gemmOp(tf.transpose(a), b, { transA: true }), () => tf.matMul(ca(), cb())],
      [gemmOp(a, tf.transpose(b), { transB: true, alpha: 0.5 }), () => tf.mul(tf.matMul(ca(), cb()), 0.5)],
      [gemmOp(a, b, { beta: 2 }, p, q), () => tf.add(tf.matMul(ca(), cb()), tf.mul(tf.matMul(cp(), cq()), 2))],
      [gemmOp(a, b, { transQ: true }, p, tf.transpose(q)), () => tf.add(tf.matMul(ca(), cb()), tf.matMul(cp(), cq()))],
    ];
    for (const [got, f] of cases) expect(await worstError(got, await want(f))).toBeLessThan(1e-5);
  });
});
