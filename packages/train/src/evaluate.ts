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

/** Disposes every tensor of a batch object (one level deep). */
export function disposeBatch(batch: unknown): void {
  if (batch instanceof tf.Tensor) batch.dispose();
  else if (batch && typeof batch === 'object') for (const v of Object.values(batch)) if (v instanceof tf.Tensor) v.dispose();
}

/** [loss · examples, correct?] of one batch; accuracy when asked, or when labels are [B] and logits [B, C]. */
function batchSums<I>(model: EvaluableModel<I>, batch: I, examples: number, accuracy?: boolean): Float32Array | Int32Array | Uint8Array {
  const r = tf.tidy(() => {
    const out = model.forward(batch);
    if (!out.loss) throw new Error('evaluate: the model returned no loss; does the batch have labels?');
    const labels = (batch as { labels?: tf.Tensor }).labels;
    const acc = accuracy ?? (labels !== undefined && labels.rank === 1 && out.logits.rank === 2);
    const parts = [tf.mul(out.loss, examples)];
    if (acc && labels) parts.push(tf.sum(tf.cast(tf.equal(tf.argMax(out.logits, -1), tf.cast(labels, 'int32')), 'float32')));
    return tf.stack(parts);
  });
  const d = r.dataSync();
  r.dispose();
  return d;
}

/**
 * Mean loss of a model over data (batches weighted by size, as transformers), perplexity = e^loss,
 * and accuracy for classification. Works on any module with `forward(batch) → { logits, loss }`
 * (a PeftModel or a plain base model); the model is put in eval mode for the duration.
 */
export function evaluateModel<T, I>(
  model: EvaluableModel<I>,
  data: readonly T[],
  opts: { batchSize: number; collate: (items: readonly T[]) => I; accuracy?: boolean },
): EvalResult {
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
      try {
        const d = batchSums(model, batch, items.length, opts.accuracy);
        lossSum += d[0];
        if (d.length > 1) {
          withAccuracy = true;
          correct += d[1];
        }
        count += items.length;
      } finally {
        disposeBatch(batch);
      }
    }
  } finally {
    model.train(wasTraining);
  }
  const loss = lossSum / count;
  return { loss, perplexity: Math.exp(loss), ...(withAccuracy ? { accuracy: correct / count } : {}), examples: count };
}
