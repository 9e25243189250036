import * as tf from '@tensorflow/tfjs-core';
import type { ModelOutput } from '@peftjs/core';

export interface EvalResult {
  loss: number;
  perplexity: number;
  accuracy?: number;
  examples: number;
}

type EvalModel<I> = { forward(batch: I): ModelOutput; train(mode?: boolean): unknown; eval(): unknown; training?: boolean; control?: { training: boolean } };
type EvalOptions<T, I> = { batchSize: number; collate: (items: readonly T[]) => I; accuracy?: boolean };

/** Disposes every tensor of a batch object (one level deep). */
export function disposeBatch(batch: unknown): void {
  if (batch instanceof tf.Tensor) batch.dispose();
  else if (batch && typeof batch === 'object') for (const v of Object.values(batch)) if (v instanceof tf.Tensor) v.dispose();
}

/**
 * The evaluation loop, shared by the sync and async readers: it yields each batch's
 * `[loss·n, correct?]` tensor (the reader disposes it) and is sent back its values.
 */
function* evaluation<T, I>(model: EvalModel<I>, data: readonly T[], opts: EvalOptions<T, I>): Generator<tf.Tensor, EvalResult, ArrayLike<number>> {
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
        const r = tf.tidy(() => {
          const out = model.forward(batch);
          if (!out.loss) throw new Error('evaluate: the model returned no loss; does the batch have labels?');
          const labels = (batch as { labels?: tf.Tensor }).labels;
          const acc = opts.accuracy ?? (labels !== undefined && labels.rank === 1 && out.logits.rank === 2);
          const parts = [tf.mul(out.loss, items.length)];
          if (acc && labels) parts.push(tf.sum(tf.cast(tf.equal(tf.argMax(out.logits, -1), tf.cast(labels, 'int32')), 'float32')));
          return tf.stack(parts);
        });
        d = yield r;
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

/**
 * Mean loss of a model over data (batches weighted by size, as transformers), perplexity = e^loss,
 * and accuracy for classification. Works on any module with `forward(batch) → { logits, loss }`
 * (a PeftModel or a plain base model); the model is put in eval mode for the duration.
 */
export function evaluateModel<T, I>(model: EvalModel<I>, data: readonly T[], opts: EvalOptions<T, I>): EvalResult {
  const run = evaluation(model, data, opts);
  let step = run.next();
  while (!step.done) {
    const r = step.value;
    let values: ArrayLike<number>;
    try {
      values = r.dataSync();
    } catch (e) {
      run.return(undefined as never);
      throw e;
    } finally {
      r.dispose();
    }
    step = run.next(values);
  }
  return step.value;
}

/** `evaluateModel` reading each batch's numbers with `await data()` (WebGPU in a worker has no reliable sync read). */
export async function evaluateModelAsync<T, I>(model: EvalModel<I>, data: readonly T[], opts: EvalOptions<T, I>): Promise<EvalResult> {
  const run = evaluation(model, data, opts);
  let step = run.next();
  while (!step.done) {
    const r = step.value;
    let values: ArrayLike<number>;
    try {
      values = await r.data();
    } catch (e) {
      run.return(undefined as never);
      throw e;
    } finally {
      r.dispose();
    }
    step = run.next(values);
  }
  return step.value;
}
