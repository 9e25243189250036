import * as tf from '@tensorflow/tfjs-core';

/** Kernels whose gradients training needs; one of them missing means none were registered. */
const PROBE_KERNELS = ['BatchMatMul', 'GatherV2', 'Add', 'Softmax'];

function gradientsPresent(): boolean {
  return PROBE_KERNELS.every((k) => {
    try {
      return tf.getGradient(k) != null;
    } catch {
      return false;
    }
  });
}

/**
 * Makes sure every stock tfjs gradient is registered against the `@tensorflow/tfjs-core` this
 * package sees.
 *
 * tfjs-core alone registers none, and its `dist/register_all_gradients` file cannot be imported
 * under plain Node (extensionless ESM specifiers). The `@tensorflow/tfjs` umbrella's Node bundle
 * (`dist/tf.node.js`, CommonJS) registers them all against the shared tfjs-core, so it is loaded
 * here with a dynamic `import()` (ESM and CJS builds alike) unless the gradients are already there.
 * Returns where the gradients came from.
 */
export async function ensureGradients(): Promise<string> {
  if (gradientsPresent()) return 'gradients already registered';
  try {
    await import('@tensorflow/tfjs');
  } catch (e) {
    throw new Error(
      `@peftjs/backend-node: tfjs-core has no gradients registered and @tensorflow/tfjs could not be loaded ` +
        `to register them (${(e as Error).message}). Install @tensorflow/tfjs with the same version as @tensorflow/tfjs-core.`,
    );
  }
  if (!gradientsPresent()) {
    throw new Error(
      `@peftjs/backend-node: @tensorflow/tfjs loaded but no gradient for ${PROBE_KERNELS.join('/')} is registered ` +
        `on this @tensorflow/tfjs-core ${tf.version_core}: two copies of tfjs-core are installed; dedupe them.`,
    );
  }
  return 'gradients registered by @tensorflow/tfjs';
}
