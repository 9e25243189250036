import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import {
  PeftModel,
  PeftRegistry,
  Rng,
  getGlobalRng,
  type ModelOutput,
  type PeftBaseModel,
  type PeftConfigBase,
  type PeftMethod,
} from '@peftjs/core';
import { disposeInputs } from './helpers.js';

/** A method, an adapter config and a model that offers activation recomputation (`gradientCheckpointing`). */
export interface RecomputationCase<I> {
  method: PeftMethod<PeftConfigBase>;
  /** PEFT's fields; `peft_type` defaults to the method's type. */
  config: Record<string, unknown>;
  /** A base model with `gradientCheckpointing` (the same weights on every call); the check disposes it. */
  model: () => PeftBaseModel<I, ModelOutput> | Promise<PeftBaseModel<I, ModelOutput>>;
  /** A labelled batch of `seqLen` tokens a row (the same one for equal arguments). */
  batch: (seqLen: number) => I;
  /** Tokens a row of the equality check. Default 8. */
  seqLen?: number;
  /** Tokens a row of the memory check, long enough that the attention intermediates dominate. Default 64. */
  longSeqLen?: number;
  /** Relative tolerance of loss and gradients. Default 1e-5. */
  tolerance?: number;
}

export interface RecomputationReport {
  loss: number;
  /** Largest |g_recompute − g| / max|g| over the trainable variables. */
  gradRelDiff: number;
  /** `tf.profile` peak bytes of one step at `longSeqLen`, without and with recomputation. */
  peakBytes: { plain: number; recompute: number };
}

const ADAPTER_SEED = 1234;

/**
 * The checks activation recomputation must pass for a method (assertions with vitest's `expect`):
 * one training step with `gradientCheckpointing` gives the loss and the gradients of every
 * trainable variable of the step without it (dropout draws the same masks: both runs start from
 * the same generator state), `tf.memory().numTensors` stays flat over steps, and the step's peak
 * tensor memory at a longer sequence is lower.
 */
export async function expectRecomputationMatches<I>(c: RecomputationCase<I>): Promise<RecomputationReport> {
  const base = await c.model();
  if (!('gradientCheckpointing' in base)) throw new Error(`model ${base.dims.modelType} offers no gradientCheckpointing`);
  const peft = new PeftModel(base, { registry: new PeftRegistry().use(c.method), rng: new Rng(ADAPTER_SEED) });
  const batch = c.batch(c.seqLen ?? 8);
  const long = c.batch(c.longSeqLen ?? 64);
  try {
    peft.addAdapter('default', { peft_type: c.method.type, ...structuredClone(c.config) });
    peft.train();
    const rngState = [peft.rng.getState(), getGlobalRng().getState()];
    const step = (recompute: boolean, b: I) => {
      base.gradientCheckpointing = recompute;
      peft.rng.setState(rngState[0]!);
      getGlobalRng().setState(rngState[1]!);
      return gradientsOf(peft, b);
    };
    const plain = step(false, batch);
    const recomputed = step(true, batch);
    const tol = c.tolerance ?? 1e-5;
    expect(Math.abs(recomputed.loss - plain.loss)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(plain.loss)));
    expect([...recomputed.grads.keys()]).toEqual([...plain.grads.keys()]);
    let gradRelDiff = 0;
    for (const [name, g] of plain.grads) {
      const r = recomputed.grads.get(name)!;
      let scale = 1e-12;
      let diff = 0;
      for (let i = 0; i < g.length; i++) {
        scale = Math.max(scale, Math.abs(g[i]!));
        diff = Math.max(diff, Math.abs(r[i]! - g[i]!));
      }
      gradRelDiff = Math.max(gradRelDiff, diff / scale);
    }
    expect(gradRelDiff).toBeLessThanOrEqual(tol);

    // numTensors flat over recomputed steps
    step(true, batch);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step(true, batch);
    expect(tf.memory().numTensors).toBe(before);

    const peak = async (recompute: boolean) => {
      base.gradientCheckpointing = recompute;
      const info = await tf.profile(() => {
        gradientsOf(peft, long);
      });
      return info.peakBytes;
    };
    const peakBytes = { plain: await peak(false), recompute: await peak(true) };
    expect(peakBytes.recompute).toBeLessThan(peakBytes.plain);
    return { loss: plain.loss, gradRelDiff, peakBytes };
  } finally {
    base.gradientCheckpointing = false;
    disposeInputs(batch);
    disposeInputs(long);
    peft.dispose();
    base.dispose();
  }
}

/** The loss and the gradient of every trainable variable (by name) of one step, read back. */
function gradientsOf<I>(peft: PeftModel<I, ModelOutput>, batch: I): { loss: number; grads: Map<string, Float32Array> } {
  const named = peft.trainableParameters();
  const { value, grads } = tf.variableGrads(
    () => {
      const { loss } = peft.forward(batch);
      if (!loss) throw new Error('expectRecomputationMatches: the batch gave no loss (it needs labels)');
      return loss as tf.Scalar;
    },
    named.map(([, v]) => v),
  );
  try {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of named) {
      const g = grads[v.name];
      if (g) out.set(name, Float32Array.from(g.dataSync() as ArrayLike<number>));
    }
    return { loss: value.dataSync()[0]!, grads: out };
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}
