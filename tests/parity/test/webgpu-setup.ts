// Loaded only with PEFTJS_BACKEND=webgpu (vitest.config.ts): every case runs on WebGPU (Dawn in Node).
import * as tf from '@tensorflow/tfjs-core';
import { setupWebGPU } from '@peftjs/backend-webgpu';

await setupWebGPU({ log: (m) => console.log(m) });
// The fixtures' models are tiny: tfjs would run most ops on the CPU (inputs under 1000 elements); keep them on the GPU.
tf.env().set('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD', 0);
