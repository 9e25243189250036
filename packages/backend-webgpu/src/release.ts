import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

/**
 * Stops WebGPU before the process does: switches to `fallback`, waits for the work already
 * submitted, removes the backend (its buffers) and destroys the device. Dawn in Node (the `webgpu`
 * package) can hang or crash at process exit while a device still has work or shader compiles in
 * flight; call this when done with the GPU (the tests call it in `afterAll`). `setupWebGPU` again
 * makes a new device.
 */
export async function releaseWebGPU(fallback = 'cpu'): Promise<void> {
  const backend = tf.findBackend('webgpu') as WebGPUBackend | null;
  if (tf.getBackend() === 'webgpu') await tf.setBackend(fallback);
  if (!backend) return;
  const { device } = backend;
  await device.queue.onSubmittedWorkDone();
  tf.removeBackend('webgpu');
  device.destroy();
}
