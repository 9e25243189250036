import * as tf from '@tensorflow/tfjs-core';
import type { ModelOutput, PeftModel } from '@peftjs/core';
import { countTokens } from './data.js';
import { disposeBatch } from './evaluate.js';
import type { BoundHooks, TrainingHookContext } from './hooks.js';
import { clipCoefficient, globalNorm, type NamedVariable, type Optimizer, type OptimizerState } from './optimizers.js';

/** What one optimizer step works on. */
export interface StepContext<T, I> {
  model: PeftModel<I, ModelOutput>;
  params: readonly NamedVariable[];
  hooks: readonly BoundHooks[];
  /** The hook context of the step being taken (the adapter name of a method's hooks). */
  hookContext(h?: BoundHooks): TrainingHookContext;
  collate(items: readonly T[]): I;
}

/** The gradients of one optimizer step, summed over its micro-batches (the caller disposes `grads`). */
export interface AccumulatedGradients {
  grads: tf.Tensor[];
  /** Mean model loss and extra (hook) loss over the micro-batches. */
  loss: number;
  extraLoss: number;
  /** Global L2 norm of `grads`, before clipping. */
  gradNorm: number;
  tokens: number;
}

/** Loss (model + hooks' extra terms) and gradients of one micro-batch, in one tidy. */
function microBatchGradients<T, I>(ctx: StepContext<T, I>, batch: I, accum: number) {
  const vars = ctx.params.map(([, v]) => v);
  const extraHooks = ctx.hooks.filter((h) => h.hooks.extraLoss);
  return tf.tidy(() => {
    let modelLoss: tf.Tensor | null = null;
    let extra: tf.Tensor | null = null;
    const { grads } = tf.variableGrads(() => {
      const out = ctx.model.forward(batch);
      if (!out.loss) throw new Error('Trainer: the model returned no loss; does the batch have labels?');
      modelLoss = tf.keep(out.loss);
      let total = out.loss as tf.Scalar;
      const terms = extraHooks.map((h) => h.hooks.extraLoss!(ctx.hookContext(h))).filter((x): x is tf.Scalar => !!x);
      if (terms.length) {
        extra = tf.keep(tf.addN(terms));
        total = tf.add(total, extra);
      }
      return (accum === 1 ? total : tf.div(total, accum)) as tf.Scalar;
    }, vars);
    return { g: vars.map((v) => grads[v.name] ?? tf.zerosLike(v)), modelLoss: modelLoss!, extra: extra ?? tf.scalar(0) };
  });
}

/**
 * Forward and backward over `accum` micro-batches (`next()` gives each one's items), the
 * gradients summed (each loss divided by `accum`), then one read of the losses and the norm.
 */
export async function accumulateGradients<T, I>(ctx: StepContext<T, I>, next: () => T[], accum: number): Promise<AccumulatedGradients> {
  let grads: tf.Tensor[] = [];
  let sums: tf.Tensor[] = []; // [model loss, extra loss]
  let tokens = 0;
  try {
    for (let m = 0; m < accum; m++) {
      const items = next();
      tokens += countTokens(items);
      const batch = ctx.collate(items);
      try {
        const r = microBatchGradients(ctx, batch, accum);
        const [prevGrads, prevSums] = [grads, sums];
        grads = m === 0 ? r.g : tf.tidy(() => prevGrads.map((a, i) => tf.add(a, r.g[i])));
        sums = m === 0 ? [r.modelLoss, r.extra] : [tf.add(prevSums[0], r.modelLoss), tf.add(prevSums[1], r.extra)];
        if (m > 0) tf.dispose([...prevGrads, ...r.g, ...prevSums, r.modelLoss, r.extra]);
      } finally {
        disposeBatch(batch);
      }
    }
    const [s, g] = [sums, grads];
    const stats = tf.tidy(() => tf.stack([tf.div(s[0], accum), tf.div(s[1], accum), globalNorm(g)]));
    const [loss, extraLoss, gradNorm] = await stats.data().finally(() => stats.dispose());
    grads = [];
    return { grads: g, loss, extraLoss, gradNorm, tokens };
  } finally {
    tf.dispose([...grads, ...sums]);
  }
}

/** Copies (sharing data: O(1)) of the parameters and the optimizer state, to roll an update back. */
function snapshot(params: readonly NamedVariable[], optimizer: Optimizer): { params: tf.Tensor[]; optimizer: OptimizerState } {
  const state = optimizer.getState();
  return {
    params: params.map(([, v]) => tf.clone(v)),
    optimizer: { info: structuredClone(state.info), tensors: new Map([...state.tensors].map(([k, t]) => [k, tf.clone(t)])) },
  };
}

/** Whether every trainable parameter is finite (one read). */
export async function parametersFinite(params: readonly NamedVariable[]): Promise<boolean> {
  if (params.length === 0) return true;
  const ok = tf.tidy(() => tf.all(tf.stack(params.map(([, v]) => tf.all(tf.isFinite(v))))));
  const [v] = await ok.data().finally(() => ok.dispose());
  return v === 1;
}

/**
 * Clips the gradients to `maxGradNorm` (null: no clipping), takes the optimizer step and checks the
 * parameters: an update that makes any of them non-finite is rolled back (parameters and optimizer
 * state as before) and `false` is returned. After a kept update the hooks get the clipped gradients.
 */
export async function applyUpdate<T, I>(
  ctx: StepContext<T, I>,
  optimizer: Optimizer,
  acc: AccumulatedGradients,
  lr: number,
  maxGradNorm: number | null,
): Promise<boolean> {
  const coef = maxGradNorm === null ? 1 : clipCoefficient(acc.gradNorm, maxGradNorm);
  const clipped = coef < 1 ? tf.tidy(() => acc.grads.map((g) => tf.mul(g, coef))) : acc.grads;
  const before = snapshot(ctx.params, optimizer);
  try {
    optimizer.step(clipped, lr);
    if (!(await parametersFinite(ctx.params))) {
      ctx.params.forEach(([, v], i) => v.assign(before.params[i]));
      optimizer.setState(before.optimizer);
      return false;
    }
    if (ctx.hooks.some((h) => h.hooks.onGradients)) {
      const named = new Map(ctx.params.map(([n], i) => [n, clipped[i]]));
      for (const h of ctx.hooks) h.hooks.onGradients?.(named, ctx.hookContext(h));
    }
    return true;
  } finally {
    tf.dispose([...before.params, ...before.optimizer.tensors.values()]);
    if (clipped !== acc.grads) tf.dispose(clipped);
  }
}
