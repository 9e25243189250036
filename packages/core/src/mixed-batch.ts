import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs a batch whose rows use different adapters: rows are grouped by adapter name, each group
 * runs on its own, and the batch-first outputs are put back in row order. Inputs and outputs are
 * a tensor or a record of tensors; outputs that are not batch-first (a scalar loss) are dropped.
 */
export function mixedBatchForward(inputs: unknown, names: readonly string[], run: (sub: unknown, name: string) => unknown): unknown {
  const batch = batchSize(inputs);
  if (names.length !== batch) {
    throw new Error(`adapterNames has ${names.length} entries but the batch has ${batch} rows`);
  }
  const groups = new Map<string, number[]>();
  names.forEach((n, i) => {
    if (!groups.has(n)) groups.set(n, []);
    groups.get(n)!.push(i);
  });
  return tf.tidy(() => {
    const order: number[] = [];
    const outs: unknown[] = [];
    for (const [name, rows] of groups) {
      const idx = tf.tensor1d(rows, 'int32');
      outs.push(
        run(
          mapTensors(inputs, (t) => (t.rank > 0 && t.shape[0] === batch ? tf.gather(t, idx) : t)),
          name,
        ),
      );
      order.push(...rows);
    }
    const inverse = new Array<number>(batch);
    order.forEach((row, pos) => (inverse[row] = pos));
    const inv = tf.tensor1d(inverse, 'int32');
    const join = (parts: tf.Tensor[]) => tf.gather(tf.concat(parts, 0), inv);
    if (outs[0] instanceof tf.Tensor) return join(outs as tf.Tensor[]);
    const first = outs[0] as Record<string, unknown>;
    const result: Record<string, tf.Tensor> = {};
    for (const key of Object.keys(first)) {
      const parts = outs.map((o) => (o as Record<string, unknown>)[key]);
      if (!parts.every((p) => p instanceof tf.Tensor && p.rank > 0)) continue;
      const tail = JSON.stringify((parts[0] as tf.Tensor).shape.slice(1));
      if (parts.some((p) => JSON.stringify((p as tf.Tensor).shape.slice(1)) !== tail)) {
        throw new Error(
          `mixed batch: output "${key}" has a different shape per adapter; adapters that change the sequence length cannot share a batch`,
        );
      }
      result[key] = join(parts as tf.Tensor[]);
    }
    return result;
  }) as unknown;
}

function batchSize(inputs: unknown): number {
  if (inputs instanceof tf.Tensor) return inputs.shape[0];
  for (const v of Object.values(inputs as Record<string, unknown>)) if (v instanceof tf.Tensor && v.rank > 0) return v.shape[0];
  throw new Error('mixed batch: inputs have no batch-first tensor');
}

function mapTensors(inputs: unknown, f: (t: tf.Tensor) => tf.Tensor): unknown {
  if (inputs instanceof tf.Tensor) return f(inputs);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inputs as Record<string, unknown>)) out[k] = v instanceof tf.Tensor ? f(v) : v;
  return out;
}
