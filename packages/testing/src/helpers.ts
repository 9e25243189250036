import * as tf from '@tensorflow/tfjs-core';
import { sameShape, type AdapterRecord, type ModelOutput, type PeftModel } from '@peftjs/core';

/** Anything that runs a forward pass: a PeftModel or a plain base model. */
export interface Forwardable<I> {
  forward(inputs: I, opts?: { adapterNames?: readonly string[] }): ModelOutput;
}

/** The logits of one forward pass (the loss, if any, is disposed). */
export function forwardLogits<I>(model: Forwardable<I>, inputs: I, opts?: { adapterNames?: readonly string[] }): tf.Tensor {
  return tf.tidy(() => model.forward(inputs, opts).logits);
}

/** Largest |a − b|; NaN when either holds a NaN. Throws naming both shapes when they differ. */
export function maxAbsDiff(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>): number {
  if (a instanceof tf.Tensor && b instanceof tf.Tensor && !sameShape(a.shape, b.shape)) {
    throw new Error(`maxAbsDiff: shapes differ, [${a.shape}] vs [${b.shape}]`);
  }
  const x = a instanceof tf.Tensor ? a.dataSync() : a;
  const y = b instanceof tf.Tensor ? b.dataSync() : b;
  if (x.length !== y.length) throw new Error(`maxAbsDiff: lengths differ, ${x.length} vs ${y.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(Number(x[i]) - Number(y[i]));
    if (Number.isNaN(d)) return NaN;
    if (d > m) m = d;
  }
  return m;
}

export interface TrainOptions {
  /** Default 5. */
  steps?: number;
  /** Default 0.01. */
  learningRate?: number;
  /** Default 'adam'. */
  optimizer?: 'adam' | 'sgd';
}

/**
 * A plain training loop on a PeftModel's trainable variables (`peft.trainableParameters()`),
 * for a fixed batch whose forward returns a loss. Owns its optimizer; dispose it when done.
 */
export class TrainLoop<I> {
  private readonly optimizer: tf.Optimizer;

  constructor(
    private readonly peft: PeftModel<I, ModelOutput>,
    private readonly batch: I,
    opts: TrainOptions = {},
  ) {
    const lr = opts.learningRate ?? 0.01;
    this.optimizer = (opts.optimizer ?? 'adam') === 'adam' ? tf.train.adam(lr) : tf.train.sgd(lr);
  }

  /** One optimizer step; returns the loss before the update. */
  step(): number {
    const varList = this.peft.trainableParameters().map(([, v]) => v);
    if (varList.length === 0) throw new Error('TrainLoop: the model has no trainable parameters');
    this.peft.train();
    try {
      const cost = this.optimizer.minimize(
        () => {
          const { loss } = this.peft.forward(this.batch);
          if (!loss) throw new Error('TrainLoop: the forward pass returned no loss (the batch needs labels)');
          return loss as tf.Scalar;
        },
        true,
        varList,
      );
      const value = cost!.dataSync()[0];
      cost!.dispose();
      return value;
    } finally {
      this.peft.eval();
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** Runs `steps` optimizer steps on the active adapter(s); returns the losses. */
export function trainSteps<I>(peft: PeftModel<I, ModelOutput>, batch: I, opts: TrainOptions = {}): number[] {
  const loop = new TrainLoop(peft, batch, opts);
  try {
    return Array.from({ length: opts.steps ?? 5 }, () => loop.step());
  } finally {
    loop.dispose();
  }
}

/** A fresh directory under the OS temp dir, removed after `fn` (also when it throws). */
export async function withTmpDir<T>(fn: (dir: string) => Promise<T> | T, prefix = 'peftjs-'): Promise<T> {
  const fs = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await fs.mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Every variable an adapter owns or trains: hook parameters, `modules_to_save` copies, trained base parameters. */
export function adapterVariables(record: AdapterRecord): Set<tf.Variable> {
  const out = new Set<tf.Variable>();
  for (const h of record.hooks) for (const [, v] of h.params.namedParameters()) out.add(v);
  for (const params of record.savedModules.values()) for (const v of params.values()) out.add(v);
  for (const v of record.baseParameters.values()) out.add(v);
  return out;
}

/** Copies of variables' values by name, to compare later without holding tensors. */
export function snapshot(vars: Iterable<[string, tf.Tensor]>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of vars) out.set(name, Float32Array.from(v.dataSync() as ArrayLike<number>));
  return out;
}

/** The largest difference between a snapshot and the variables' current values, over all of them. */
export function maxDiffFromSnapshot(before: Map<string, Float32Array>, vars: Iterable<[string, tf.Tensor]>): number {
  let m = 0;
  for (const [name, v] of vars) {
    const old = before.get(name);
    if (!old) throw new Error(`maxDiffFromSnapshot: no snapshot of ${name}`);
    m = Math.max(m, maxAbsDiff(old, v.dataSync() as ArrayLike<number>));
    if (Number.isNaN(m)) return NaN;
  }
  return m;
}

/** Disposes every tensor of a batch record (or a single tensor). */
export function disposeInputs(inputs: unknown): void {
  if (inputs instanceof tf.Tensor) return inputs.dispose();
  for (const v of Object.values(inputs as Record<string, unknown>)) if (v instanceof tf.Tensor) v.dispose();
}
