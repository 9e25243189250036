import * as tf from '@tensorflow/tfjs-core';

/**
 * AdaLoRA's scale: α / (ranknum + 1e-5). `ranknum` is the rank the module was created with
 * (`init_r`); PEFT keeps it when a pruned adapter is loaded with fewer ranks, so the scale of a
 * saved adapter does not change.
 */
export function adaLoraScale(loraAlpha: number, rankNum: number): number {
  return loraAlpha / (rankNum + 1e-5);
}

/**
 * ΔW in SVD form: P·Λ·Q·scale.
 * A (Q): [r, in]   E (Λ): [r, 1]   B (P): [out, r]   ΔW = B·(A⊙E)·s: [out, in]  ([in, out] for Conv1D)
 */
export function adaLoraDelta(loraA: tf.Tensor, loraE: tf.Tensor, loraB: tf.Tensor, scale: number, fanInFanOut: boolean): tf.Tensor {
  return tf.tidy(() => {
    const d = tf.mul(tf.matMul(loraB, tf.mul(loraA, loraE)), scale);
    return fanInFanOut ? tf.transpose(d) : d;
  });
}

/** The adapter path: (x·(A⊙E)ᵀ·Bᵀ)·s.   x: [..., in] → [..., out] */
export function adaLoraPath(x: tf.Tensor, loraA: tf.Tensor, loraE: tf.Tensor, loraB: tf.Tensor, scale: number): tf.Tensor {
  return tf.tidy(() => {
    const inF = x.shape[x.rank - 1];
    const x2 = tf.reshape(x, [-1, inF]);
    const y = tf.mul(tf.matMul(tf.matMul(x2, tf.mul(loraA, loraE), false, true), loraB, false, true), scale);
    return tf.reshape(y, [...x.shape.slice(0, -1), loraB.shape[0]]);
  });
}

/**
 * ‖P·Pᵀ − I‖_F for A (rows orthonormal) or ‖Pᵀ·P − I‖_F for B (columns orthonormal): the term of
 * AdaLoRA's orthogonal regulariser for one factor. A: [r, in] → AAᵀ: [r, r]; B: [out, r] → BᵀB: [r, r].
 */
export function orthogonalityGap(p: tf.Tensor, kind: 'A' | 'B'): tf.Scalar {
  return tf.tidy(() => {
    const cov = kind === 'A' ? tf.matMul(p, p, false, true) : tf.matMul(p, p, true, false);
    const r = cov.shape[0];
    return tf.sqrt(tf.sum(tf.square(tf.sub(cov, tf.eye(r))))) as tf.Scalar;
  });
}

/**
 * The cubic budget schedule of AdaLoRA (Zhang et al., Eq. 12), as PEFT's `budget_schedule`:
 * the whole initial budget for `tinit` steps, then b(t) = ⌊(b⁰ − b^T)·(1 − (t − tinit)/(T − tfinal − tinit))³ + b^T⌋,
 * allocating every `deltaT` steps, and the target budget with a fixed pattern for the last `tfinal` steps.
 */
export function budgetSchedule(
  step: number,
  s: { initBudget: number; targetBudget: number; tinit: number; tfinal: number; totalStep: number; deltaT: number },
): { budget: number; mask: boolean } {
  if (step <= s.tinit) return { budget: s.initBudget, mask: false };
  if (step > s.totalStep - s.tfinal) return { budget: s.targetBudget, mask: true };
  const mulCoeff = 1 - (step - s.tinit) / (s.totalStep - s.tfinal - s.tinit);
  const budget = Math.trunc((s.initBudget - s.targetBudget) * mulCoeff ** 3 + s.targetBudget);
  return { budget, mask: step % s.deltaT === 0 };
}

/**
 * The k-th smallest value (1-based), as `torch.kthvalue`; −∞ for k ≤ 0 (nothing is masked: PEFT
 * would fail there) and the largest for k past the end.
 */
export function kthSmallest(values: Float32Array | number[], k: number): number {
  if (k <= 0 || values.length === 0) return -Infinity;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(k, sorted.length) - 1];
}
