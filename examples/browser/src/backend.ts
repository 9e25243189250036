/**
 * Starts the tfjs backend of the page's worker with `@peftjs/backend-webgpu`: WebGPU when the
 * browser offers an adapter (with peftjs's WGSL kernels, error checks and device-loss reports),
 * else wasm, and says why. In a worker, setupWebGPU refuses synchronous reads of GPU memory
 * (tfjs-backend-webgpu's OffscreenCanvas read gives zeros there and loses the device): the page
 * reads with `await data()` only, and any sync read left is a clear error. On wasm the page runs
 * peftjs' wasm kernels (`@peftjs/backend-node/browser`: SIMD GEMM, fused LLaMA-block ops, AdamW),
 * the same code as Node's; one GEMM thread (the page is not cross-origin isolated, so no shared heap).
 */
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { setupWebGPU, type BackendInfo } from '@peftjs/backend-webgpu';
import { gemmFmaOf, registerWasmKernels } from '@peftjs/backend-node/browser';
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

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
});

function describe(info: BackendInfo): PageBackend {
  if (info.name !== 'webgpu') return { name: info.name, reason: info.reason };
  const a = info.adapter;
  const adapter =
    [a?.vendor, a?.architecture || a?.device, a?.description].filter((s) => s && s.length).join(' / ') + (a?.fallback ? ' (software)' : '');
  return { name: 'webgpu', adapter, limits: info.limits, reason: info.reason };
}

/** peftjs' kernels on the running wasm backend (after tfjs' gradients, which stay the fallbacks); what runs, for the reason line. */
async function ourWasmKernels(): Promise<string> {
  await import('@tensorflow/tfjs'); // the stock gradients (tfjs-core alone has none)
  registerWasmKernels();
  return `peftjs wasm kernels (GEMM ${gemmFmaOf(tf.backend()) ? 'relaxed-SIMD FMA' : 'SIMD'}, 1 thread)`;
}

export async function startBackend(choice: BackendChoice, onLost: (why: string) => void): Promise<PageBackend> {
  if (choice === 'wasm') {
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to start');
    return { name: 'wasm', reason: `wasm: chosen on the page; ${await ourWasmKernels()}` };
  }
  const info = await setupWebGPU({ fallback: choice === 'auto' ? 'wasm' : undefined, timeoutMs: 20_000 });
  if (info.name === 'webgpu') {
    void info.guard?.lost.then(onLost);
  }
  await tf.ready();
  const page = describe(info);
  if (info.name === 'wasm') page.reason = `${page.reason}; ${await ourWasmKernels()}`;
  return page;
}

/**
 * A test hook: destroys the WebGPU device under tfjs, as a driver reset or a background tab loses
 * it (`device.lost` then reports "destroyed"). Throws when the worker is not on WebGPU.
 */
export function destroyDevice(): void {
  const device = tf.getBackend() === 'webgpu' ? (tf.backend() as unknown as { device?: GPUDevice }).device : undefined;
  if (!device) throw new Error(`there is no WebGPU device to lose (backend: ${tf.getBackend()})`);
  device.destroy();
}
