import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs-core alone registers no gradients. Training code calls this first to fail with a clear
 * message instead of "gradient function not found for Sum" deep inside a step.
 */
export function requireGradients(): void {
  if (!tf.getGradient('Sum') || !tf.getGradient('BatchMatMul')) {
    throw new Error(
      "No tfjs gradients are registered: import '@tensorflow/tfjs' (or '@peftjs/backend-node', or tfjs-node) before training",
    );
  }
}
