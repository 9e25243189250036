import * as tf from '@tensorflow/tfjs-core';

/** Kernels whose gradients training needs; one of them missing means none were registered. */
const NEEDED = ['BatchMatMul', 'GatherV2', 'Softmax', 'Add'];

const present = (): boolean => NEEDED.every((k) => tf.getGradient(k) != null);

/**
 * tfjs-core registers no gradients; the `@tensorflow/tfjs` umbrella (a peer dependency) registers
 * them all against the one shared tfjs-core, in browsers (ESM) and in Node (its CommonJS bundle).
 */
export async function ensureGradients(): Promise<void> {
  if (present()) return;
  try {
    await import('@tensorflow/tfjs');
  } catch (e) {
    throw new Error(
      `@peftjs/backend-webgpu: no gradients are registered and @tensorflow/tfjs failed to load (${(e as Error).message}); install it at the version of @tensorflow/tfjs-core`,
    );
  }
  if (!present()) {
    throw new Error(
      `@peftjs/backend-webgpu: @tensorflow/tfjs loaded but tfjs-core ${tf.version_core} has no gradient for ${NEEDED.join('/')}: two copies of tfjs-core are installed; dedupe them`,
    );
  }
}
