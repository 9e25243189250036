/**
 * Starts the tfjs backend of the page's worker with `@peftjs/backend-webgpu`: WebGPU when the
 * browser offers an adapter (with peftjs's WGSL kernels, error checks and device-loss reports),
 * else wasm, and says why.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { setupWebGPU, type BackendInfo } from '@peftjs/backend-webgpu';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

export type BackendChoice = 'auto' | 'webgpu' | 'wasm';

export interface PageBackend {
  name: string;
  /** The WebGPU adapter as the browser names it ("google / swiftshader"), when on webgpu. */
  adapter?: string;
  /** The device's buffer and binding limits, when on webgpu. */
  limits?: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  /** One line: what runs and why. */
  reason: string;
}

setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd });

/**
 * In a worker, tfjs-backend-webgpu's synchronous read (through OffscreenCanvas) returned zeros
 * and then destroyed the device once the worker's event loop had turned (Chromium, SwiftShader).
 * The page reads with `await data()`; any sync read of GPU memory left is an error, not zeros.
 */
function refuseSyncReads(): void {
  const backend = tf.backend() as unknown as { readSync(id: object): unknown; tensorMap: { get(id: object): { values?: unknown } | undefined } };
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    if (backend.tensorMap.get(dataId)?.values != null) return readSync(dataId);
    throw new Error('dataSync()/arraySync() cannot read WebGPU memory in this page (a synchronous read there destroys the device); this step needs an async read');
  };
}

/**
 * tfjs-backend-webgpu 4.22's AddN binds every input at once, so more inputs than the device's
 * storage buffers per stage (8 by default) fail validation — the Trainer's global gradient norm
 * sums 56 terms for LoRA on all linear layers. This AddN adds them in groups that fit.
 * (Page-local until @peftjs/backend-webgpu registers the same.)
 */
function registerChunkedAddN(): void {
  const stock = tf.getKernel('AddN', 'webgpu');
  if (!stock || (stock.kernelFunc as { chunked?: boolean }).chunked) return;
  type Info = tf.TensorInfo;
  const kernelFunc = ((args: { inputs: Info[]; backend: { device: { limits: { maxStorageBuffersPerShaderStage: number } }; disposeData(id: object): void }; attrs: object }) => {
    const group = Math.max(2, args.backend.device.limits.maxStorageBuffersPerShaderStage - 1);
    let level: Info[] = args.inputs;
    while (level.length > group) {
      const next: Info[] = [];
      for (let i = 0; i < level.length; i += group) {
        const part = level.slice(i, i + group);
        next.push(part.length === 1 ? part[0] : (stock.kernelFunc({ ...args, inputs: part } as never) as Info));
      }
      if (level !== args.inputs) for (const t of level) if (!next.includes(t)) args.backend.disposeData(t.dataId);
      level = next;
    }
    const out = stock.kernelFunc({ ...args, inputs: level } as never) as Info;
    if (level !== args.inputs) for (const t of level) if (t !== out) args.backend.disposeData(t.dataId);
    return out;
  }) as unknown as tf.KernelFunc;
  (kernelFunc as { chunked?: boolean }).chunked = true;
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({ kernelName: 'AddN', backendName: 'webgpu', kernelFunc });
}

function describe(info: BackendInfo): PageBackend {
  if (info.name !== 'webgpu') return { name: info.name, reason: info.reason };
  const a = info.adapter;
  const adapter = [a?.vendor, a?.architecture || a?.device, a?.description].filter((s) => s && s.length).join(' / ') + (a?.fallback ? ' (software)' : '');
  return { name: 'webgpu', adapter, limits: info.limits, reason: info.reason };
}

export async function startBackend(choice: BackendChoice, onLost: (why: string) => void): Promise<PageBackend> {
  if (choice === 'wasm') {
    await import('@tensorflow/tfjs'); // the stock gradients (tfjs-core alone has none)
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to start');
    return { name: 'wasm', reason: 'wasm: chosen on the page' };
  }
  const info = await setupWebGPU({ fallback: choice === 'auto' ? 'wasm' : undefined, timeoutMs: 20_000 });
  if (info.name === 'webgpu') {
    refuseSyncReads();
    registerChunkedAddN();
    void info.guard?.lost.then(onLost);
  }
  await tf.ready();
  return describe(info);
}
