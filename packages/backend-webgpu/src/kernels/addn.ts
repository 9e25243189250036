import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

/**
 * tfjs-backend-webgpu 4.22's `AddN` binds every input at once, so more inputs than the device's
 * storage buffers per shader stage (8 under WebGPU's default limits) fail validation — and a
 * gradient norm over many parameters sums dozens. This one adds them in groups that fit, a tree of
 * stock AddN calls (the same float sums, grouped). The kernel function is marked `chunked`.
 */
export function registerChunkedAddN(): void {
  const stock = tf.getKernel('AddN', 'webgpu');
  if (!stock || (stock.kernelFunc as { chunked?: boolean }).chunked) return;
  const kernelFunc = ((args: { inputs: tf.TensorInfo[]; backend: WebGPUBackend; attrs?: tf.NamedAttrMap }) => {
    const group = Math.max(2, args.backend.device.limits.maxStorageBuffersPerShaderStage - 1);
    const run = (inputs: tf.TensorInfo[]) =>
      stock.kernelFunc({ ...args, inputs } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    const own = new Set<tf.TensorInfo>(); // intermediate sums, never the caller's inputs
    let level = args.inputs;
    while (level.length > group) {
      const next: tf.TensorInfo[] = [];
      for (let i = 0; i < level.length; i += group) {
        const part = level.slice(i, i + group);
        if (part.length === 1) next.push(part[0]!);
        else {
          const sum = run(part);
          own.add(sum);
          next.push(sum);
        }
      }
      for (const t of level) if (own.has(t) && !next.includes(t)) args.backend.disposeData(t.dataId);
      level = next;
    }
    const out = run(level);
    for (const t of level) if (own.has(t)) args.backend.disposeData(t.dataId);
    return out;
  }) as unknown as tf.KernelFunc;
  (kernelFunc as { chunked?: boolean }).chunked = true;
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({ kernelName: 'AddN', backendName: 'webgpu', kernelFunc });
}
