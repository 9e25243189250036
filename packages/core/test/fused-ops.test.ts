import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { maskedSoftmax, rmsNorm, rotary, swiGlu, type PeftOp } from '../src/index.js';

const wave = (shape: number[], seed: number, amp = 2) =>
  tf.tensor(
    Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => amp * Math.sin(i * 0.731 + seed)),
    shape,
  );
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;

/**
 * The gradient a backend kernel would use (the op's own `gradient`, whose helper ops run their
 * fallbacks here) equals autograd through the fallback (the unfused tfjs ops), for every input.
 */
function expectOwnGradientEqualsAutograd<I extends string, A extends object>(
  op: PeftOp<I, A>,
  inputs: Record<I, tf.Tensor>,
  attrs: A,
): void {
  const names = op.spec.inputNames;
  const y = op.spec.fallback(inputs, attrs);
  const dy = wave(y.shape, 11, 1);
  const auto = tf.grads((...xs: tf.Tensor[]) => {
    const rec = {} as Record<I, tf.Tensor>;
    names.forEach((n, i) => (rec[n] = xs[i]!));
    return tf.sum(tf.mul(op.spec.fallback(rec, attrs), dy));
  })(names.map((n) => inputs[n]));
  const own = op.spec.gradient(dy, inputs, attrs, y);
  names.forEach((n, i) => {
    const g = own[n]();
    expect(g.shape).toEqual(inputs[n].shape);
    expect(maxDiff(g, auto[i]!), `gradient of ${n}`).toBeLessThan(1e-5);
  });
}

describe('fused ops: the fallback is the unfused math, and the own gradient equals its autograd (cpu)', () => {
  it('PeftRotary is transformers’ x·cos + rotate_half(x)·sin; transpose is its adjoint', () => {
    const [x, cos, sin] = [wave([2, 3, 4, 6], 1), wave([2, 1, 4, 6], 2, 1), wave([2, 1, 4, 6], 3, 1)];
    const [x1, x2] = tf.split(x, 2, -1);
    const want = tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2!), x1!], -1), sin));
    expect(maxDiff(rotary({ x, cos, sin }, { transpose: false }), want)).toBeLessThan(1e-6);
    // ⟨R(x), z⟩ = ⟨x, Rᵀ(z)⟩
    const z = wave(x.shape, 4);
    const lhs = tf.sum(tf.mul(rotary({ x, cos, sin }, { transpose: false }), z)).dataSync()[0]!;
    const rhs = tf.sum(tf.mul(x, rotary({ x: z, cos, sin }, { transpose: true }))).dataSync()[0]!;
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4);
    for (const transpose of [false, true]) expectOwnGradientEqualsAutograd(rotary, { x, cos, sin }, { transpose });
    expectOwnGradientEqualsAutograd(rotary, { x, cos: wave([1, 1, 4, 6], 5), sin: wave([1, 1, 4, 6], 6) }, { transpose: false });
  });

  it('PeftRmsNorm is x·rsqrt(mean(x²) + eps)·w; gradients of x and w', () => {
    const [x, weight] = [wave([2, 3, 7], 1), wave([7], 2, 1)];
    const want = tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-5))), weight);
    expect(maxDiff(rmsNorm({ x, weight }, { eps: 1e-5 }), want)).toBeLessThan(1e-6);
    expectOwnGradientEqualsAutograd(rmsNorm, { x, weight }, { eps: 1e-5 });
  });

  it('PeftSwiGlu is silu(gate)·up; gradients of gate and up', () => {
    const [gate, up] = [wave([3, 11], 1, 8), wave([3, 11], 2)];
    expect(maxDiff(swiGlu({ gate, up }, {}), tf.mul(tf.mul(gate, tf.sigmoid(gate)), up))).toBeLessThan(1e-6);
    expectOwnGradientEqualsAutograd(swiGlu, { gate, up }, {});
  });

  it('PeftMaskedSoftmax: its gradient (PeftSoftmaxGrad) for the scores and a broadcast bias', () => {
    expectOwnGradientEqualsAutograd(maskedSoftmax, { scores: wave([2, 3, 4, 5], 1, 3), bias: wave([2, 1, 4, 5], 2) }, {});
  });
});
