import * as tf from '@tensorflow/tfjs-core';

/** Sums a gradient over the axes `shape` was broadcast along, back to `shape`. */
export function reduceToShape(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, [...shape]);
}
