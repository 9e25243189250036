import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adamUpdate, ema, maskedSoftmax, rmsNorm, rotary, swiGlu } from '@peftjs/core';
import { setupBackend } from '../src/index.js';
import { expectClose } from './helpers.js';

/** A deterministic tensor of `shape` with values of about ±amp. */
const wave = (shape: number[], seed: number, amp = 2) =>
  tf.tensor(
    Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => amp * Math.sin(i * 0.731 + seed)),
    shape,
  );

/**
 * Value and gradient (with respect to every input) of Σ op(inputs)·w for a fixed weighting w,
 * read back as plain arrays. On cpu the op runs its fallback (the unfused tfjs ops, autograd); on
 * wasm its kernel and the op's own gradient (kernels as well).
 */
function valueAndGrads(make: () => tf.Tensor[], op: (...xs: tf.Tensor[]) => tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const xs = make();
    const y = op(...xs);
    const w = wave(y.shape, 9, 1);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(op(...a), w)))(xs);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

async function expectWasmEqualsCpu(make: () => tf.Tensor[], op: (...xs: tf.Tensor[]) => tf.Tensor, kernel: string): Promise<void> {
  await tf.setBackend('cpu');
  const expected = valueAndGrads(make, op);
  await tf.setBackend('wasm');
  expect(tf.getKernel(kernel, 'wasm')).toBeDefined();
  valueAndGrads(make, op); // the first call may allocate lasting state: count tensors on the second
  const before = tf.memory().numTensors;
  const actual = valueAndGrads(make, op);
  expect(tf.memory().numTensors).toBe(before);
  expect(actual.length).toBe(expected.length);
  actual.forEach((x, i) => expectClose(x, expected[i]!));
}

describe('the fused LLaMA-block kernels on wasm equal the unfused tfjs ops on cpu (value and every gradient)', () => {
  beforeAll(async () => {
    await setupBackend({ prefer: 'wasm' });
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  // head size 6: the JS rows; 16: the SIMD rows (d/2 a multiple of 4)
  for (const [R, d] of [
    [1, 6],
    [2, 6],
    [1, 16],
    [2, 16],
  ] as const) {
    for (const transpose of [false, true]) {
      it(`PeftRotary, head size ${d}, cos/sin rows ${R}, transpose ${transpose}: x, cos and sin gradients`, async () => {
        const [B, H, T] = [2, 3, 5];
        await expectWasmEqualsCpu(
          () => [wave([B, H, T, d], 1), wave([R, 1, T, d], 2, 1), wave([R, 1, T, d], 3, 1)],
          (x, cos, sin) => rotary({ x: x!, cos: cos!, sin: sin! }, { transpose }),
          'PeftRotary',
        );
      });
    }
  }

  for (const D of [7, 12]) {
    it(`PeftRmsNorm on [2, 3, ${D}] rows (${D % 4 ? 'JS' : 'SIMD'} rows): x and weight gradients`, async () => {
      await expectWasmEqualsCpu(
        () => [wave([2, 3, D], 4), wave([D], 5, 1)],
        (x, weight) => rmsNorm({ x: x!, weight: weight! }, { eps: 1e-6 }),
        'PeftRmsNorm',
      );
    });
  }

  it('PeftSwiGlu on [3, 11], large gates included: gate and up gradients', async () => {
    await expectWasmEqualsCpu(
      () => [wave([3, 11], 6, 12), wave([3, 11], 7)],
      (gate, up) => swiGlu({ gate: gate!, up: up! }, {}),
      'PeftSwiGlu',
    );
  });

  for (const S of [8, 64]) {
    it(`PeftMaskedSoftmax with ${S} keys (SIMD rows), a causal float32-min bias and one fully masked row: scores gradient`, async () => {
      const [B, H, T] = [2, 3, 5];
      const bias = () => {
        const b = new Float32Array(B * T * S);
        for (let i = 0; i < B * T; i++)
          for (let j = 0; j < S; j++) b[i * S + j] = i === 3 || j > (i % T) + 2 ? -3.4028234663852886e38 : 0.1 * j;
        return tf.tensor4d(b, [B, 1, T, S]);
      };
      await expectWasmEqualsCpu(
        () => [wave([B, H, T, S], 8, 6)],
        (scores) => maskedSoftmax({ scores: scores!, bias: bias() }, {}),
        'PeftMaskedSoftmax',
      );
    });
  }
});

describe("AdamW's kernels on wasm (PeftEma, PeftAdamUpdate) equal their tfjs fallback bit for bit", () => {
  beforeAll(async () => {
    await setupBackend({ prefer: 'wasm' });
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  // sizes: SIMD lanes only, a tail of 1–3 (JS), a tail alone; values over many magnitudes, zeros and −0
  const vals = (n: number, seed: number, positive = false) =>
    Float32Array.from({ length: n }, (_, i) => {
      const x = Math.sin(i * 1.731 + seed) * 10 ** ((i % 13) - 8);
      return i % 17 === 5 ? 0 : i % 19 === 7 ? -0 : positive ? Math.abs(x) : x;
    });
  for (const n of [64, 67, 3]) {
    it(`n = ${n}: both moments and the update (with and without weight decay)`, async () => {
      const run = () =>
        tf.tidy(() => {
          const [p, m, g] = [vals(n, 1), vals(n, 2), vals(n, 3)].map((a) => tf.tensor1d(a));
          const v = tf.tensor1d(vals(n, 4, true));
          const out = [
            ema({ x: m!, g: g! }, { decay: 0.9, square: false }),
            ema({ x: v, g: g! }, { decay: 0.999, square: true }),
            adamUpdate(
              { p: p!, m: m!, v },
              { keep: 1 - 1e-3 * 0.01, bc2: Math.sqrt(1 - 0.999 ** 3), eps: 1e-8, stepSize: 1e-3 / (1 - 0.9 ** 3) },
            ),
            adamUpdate({ p: p!, m: m!, v }, { keep: 1, bc2: 0.7, eps: 1e-6, stepSize: 0.37 }),
          ];
          return out.map((t) => Array.from(t.dataSync()));
        });
      await tf.setBackend('cpu');
      const expected = run();
      await tf.setBackend('wasm');
      expect(tf.getKernel('PeftAdamUpdate', 'wasm')).toBeDefined();
      const before = tf.memory().numTensors;
      const actual = run();
      expect(tf.memory().numTensors).toBe(before);
      actual.forEach((a, k) =>
        a.forEach((x, i) => expect(Object.is(x, expected[k]![i]), `output ${k}, element ${i}: ${x} vs ${expected[k]![i]}`).toBe(true)),
      );
    });
  }
});
