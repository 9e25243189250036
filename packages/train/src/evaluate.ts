import * as tf from '@tensorflow/tfjs-core';
import type { ModelOutput } from '@peftjs/core';

export interface EvalResult {
  loss: number;
  perplexity: number;
  accuracy?: number;
  examples: number;
}

/** What evaluation needs of a model: a PeftModel or a plain base model. */
export interface EvaluableModel<I> {
  forward(batch: I): ModelOutput;
  train(mode?: boolean): unknown;
  eval(): unknown;
  training?: boolean;
  control?: { training: boolean };
}

export interface EvalOptions<T, I> {
  batchSize: number;
  collate: (items: readonly T[]) => I;
  accuracy?: boolean;
}

/** Disposes every tensor of a batch object (one level deep). */
export function disposeBatch(batch: unknown): void {
  if (batch instanceof tf.Tensor) batch.dispose();
  else if (batch && typeof batch === 'object') for (const v of Object.values(batch)) if (v instanceof tf.Tensor) v.dispose();
}

/** [loss · examples, correct?] of one batch; accuracy when asked, or when labels are [B] and logits [B, C]. */
function batchSums<I>(model: EvaluableModel<I>, batch: I, examples: number, accuracy?: boolean): tf.Tensor1D {
  return tf.tidy(() => {
    const out = model.forward(batch);
    if (!out.loss) throw new Error('evaluate: the model returned no loss; does the batch have labels?');
    const labels = (batch as { labels?: tf.Tensor }).labels;
    const acc = accuracy ?? (labels !== undefined && labels.rank === 1 && out.logits.rank === 2);
    const parts = [tf.mul(out.loss, examples)];
    if (acc && labels) parts.push(tf.sum(tf.cast(tf.equal(tf.argMax(out.logits, -1), tf.cast(labels, 'int32')), 'float32')));
    return tf.stack(parts) as tf.Tensor1D;
  });
}

/**
 * The evaluation loop, shared by the sync and async readers: it yields each batch's
 * `[loss·n, correct?]` tensor (the reader reads and disposes it) and is sent back its values.
 */
function* evaluation<T, I>(
  model: EvaluableModel<I>,
  data: readonly T[],
  opts: EvalOptions<T, I>,
): Generator<tf.Tensor, EvalResult, ArrayLike<number>> {
  if (data.length === 0) throw new Error('evaluate: no evaluation data');
  const wasTraining = model.control?.training ?? model.training ?? false;
  model.eval();
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  let withAccuracy = false;
  try {
    for (let i = 0; i < data.length; i += opts.batchSize) {
      const items = data.slice(i, i + opts.batchSize);
      const batch = opts.collate(items);
      let d: ArrayLike<number>;
      try {
        d = yield batchSums(model, batch, items.length, opts.accuracy);
      } finally {
        disposeBatch(batch);
      }
      lossSum += d[0];
      if (d.length > 1) {
        withAccuracy = true;
        correct += d[1];
      }
      count += items.length;
    }
  } finally {
    model.train(wasTraining);
  }
  const loss = lossSum / count;
  return { loss, perplexity: Math.exp(loss), ...(withAccuracy ? { accuracy: correct / count } : {}), examples: count };
}

/** Drives `evaluation` with a reader of each batch's values (sync or async). */
async function drive(
  run: Generator<tf.Tensor, EvalResult, ArrayLike<number>>,
  read: (t: tf.Tensor) => ArrayLike<number> | Promise<ArrayLike<number>>,
): Promise<EvalResult> {
  let step = run.next();
  while (!step.done) {
    const r = step.value;
    let values: ArrayLike<number>;
    try {
      values = await read(r);
    } catch (e) {
      run.return(undefined as unknown as EvalResult); // runs the loop's finally blocks (batch disposal, train mode)
      throw e;
    } finally {
      r.dispose();
    }
    step = run.next(values);
  }
  return step.value;
}

/**
 * Mean loss of a model over data (batches weighted by size, as transformers), perplexity = e^loss,
 * and accuracy for classification. Works on any module with `forward(batch) → { logits, loss }`
 * (a PeftModel or a plain base model); the model is put in eval mode for the duration.
 */
export function evaluateModel<T, I>(model: EvaluableModel<I>, data: readonly T[], opts: EvalOptions<T, I>): EvalResult {
  const run = evaluation(model, data, opts);
  let step = run.next();
  while (!step.done) {
    const r = step.value;
    let values: ArrayLike<number>;
    try {
      values = r.dataSync();
    } catch (e) {
      run.return(undefined as unknown as EvalResult); // runs the loop's finally blocks (batch disposal, train mode)
      throw e;
    } finally {
      r.dispose();
    }
    step = run.next(values);
  }
  return step.value;
}

/** `evaluateModel` reading each batch's numbers with `await data()` (WebGPU in a worker has no reliable sync read). */
export function evaluateModelAsync<T, I>(model: EvaluableModel<I>, data: readonly T[], opts: EvalOptions<T, I>): Promise<EvalResult> {
  return drive(evaluation(model, data, opts), (t) => t.data());
}
