import * as tf from '@tensorflow/tfjs-core';

export interface TensorflowLoad {
  ok: boolean;
  gpu: boolean;
  /** Why it was or was not used, one clause a package tried. */
  notes: string[];
}

/** tfjs-node's NodeJSKernelBackend sets `isUsingGpuDevice` from libtensorflow's device list. */
function usingGpu(): boolean {
  // tfjs-core types the backend as KernelBackend; this flag lives only on tfjs-node's subclass.
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean | (() => boolean) };
  const flag = backend.isUsingGpuDevice;
  return typeof flag === 'function' ? Boolean(flag.call(backend)) : Boolean(flag);
}

function moduleMissing(e: unknown, name: string): boolean {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? '';
  // Node: ERR_MODULE_NOT_FOUND / MODULE_NOT_FOUND; vite (vitest): "Could not resolve" / "Failed to load url".
  const notFound =
    err.code === 'ERR_MODULE_NOT_FOUND' ||
    err.code === 'MODULE_NOT_FOUND' ||
    /Could not resolve|Failed to load url|Cannot find (module|package)/.test(msg);
  return notFound && msg.includes(name);
}

/**
 * Loads `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node`, when installed (optional peer
 * dependencies: their install script downloads libtensorflow), and activates the `'tensorflow'`
 * backend. tfjs-node-gpu without CUDA 11.2 / cuDNN 8.1 loads and silently runs on the CPU, so the GPU
 * is reported from `isUsingGpuDevice()`, never assumed.
 */
export async function loadTensorflow(importer: (name: string) => Promise<unknown>): Promise<TensorflowLoad> {
  const notes: string[] = [];
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await importer(name);
    } catch (e) {
      notes.push(moduleMissing(e, name) ? `${name} not installed` : `${name} failed to load (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    if (!(await tf.setBackend('tensorflow'))) {
      notes.push(`${name} loaded but the 'tensorflow' backend did not initialize`);
      continue;
    }
    const gpu = usingGpu();
    if (name.endsWith('-gpu') && !gpu) notes.push(`${name} loaded but found no CUDA device (runs on the CPU)`);
    notes.push(`using ${name}`);
    return { ok: true, gpu, notes };
  }
  return { ok: false, gpu: false, notes };
}
