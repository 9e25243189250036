// Every package's tests: the tfjs umbrella registers all gradients and the cpu backend.
import * as tf from '@tensorflow/tfjs';

const backend = process.env.PEFTJS_TEST_BACKEND ?? 'cpu';
if (backend === 'wasm') {
  // wasm as users get it: @peftjs/backend-node's kernels (GEMM, fused LoRA, cross-entropy), not stock tfjs-wasm
  const { setupBackend } = await import('@peftjs/backend-node');
  await setupBackend({ prefer: 'wasm' });
} else {
  await tf.setBackend(backend);
}
