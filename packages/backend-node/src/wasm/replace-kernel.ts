import * as tf from '@tensorflow/tfjs-core';

/**
 * Swaps tfjs-backend-wasm's kernel `name` for `kernelFunc`; returns the stock kernel (which the
 * replacement falls back to), or null when wasm has none. The caller keeps the stock kernel and
 * calls this once. Our kernels are typed by their real arguments; tfjs' registry takes the loose
 * `KernelFunc`.
 */
export function replaceWasmKernel(name: string, kernelFunc: unknown): tf.KernelConfig | null {
  const stock = tf.getKernel(name, 'wasm');
  if (!stock) return null;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...stock, kernelFunc: kernelFunc as tf.KernelFunc });
  return stock;
}
