import * as tf from '@tensorflow/tfjs-core';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { type Importer, defaultImporter, findGpu, isNode, prepareNodeEnv, swiftShaderIcd, withTimeout } from './gpu.js';
import { type DeviceGuard, WebGPUError, formatBytes, guardDevice } from './guard.js';
import { ensureGradients } from './gradients.js';
import { registerWebGPUKernels } from './kernels/register.js';

/** The limits tfjs-backend-webgpu's kernels depend on; the ones `limits: 'adapter'` raises. */
export const LIMIT_NAMES = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];
export type Limits = Record<LimitName, number>;

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software or otherwise degraded adapter (SwiftShader is one). */
  fallback: boolean;
}

/** The same shape as `@peftjs/backend-node`'s `BackendInfo`, plus what WebGPU gave. */
export interface BackendInfo {
  /** 'webgpu', or the fallback backend that was activated instead. */
  name: string;
  /** True only for a hardware adapter (not SwiftShader or another fallback adapter). */
  gpu: boolean;
  /** CPU threads of the backend; 0 on webgpu. */
  threads: number;
  /** wasm SIMD; false on webgpu. */
  simd: boolean;
  /** What was chosen and why, e.g. "webgpu (google swiftshader, software): ...". */
  reason: string;
  adapter?: AdapterDescription;
  /** What the device was asked for (empty: WebGPU's defaults). */
  requestedLimits?: Partial<Limits>;
  /** What the device has. */
  limits?: Limits;
  /** The most the adapter offers. */
  adapterLimits?: Limits;
  /** Error checks and device loss (absent on a fallback). */
  guard?: DeviceGuard;
}

export interface SetupOptions {
  /**
   * 'default' (WebGPU's defaults — 256 MiB buffers, 128 MiB bindings, the same on every device;
   * the default), 'adapter' (the most the adapter offers), or explicit limits (checked against the adapter).
   */
  limits?: 'default' | 'adapter' | Partial<Limits>;
  powerPreference?: GPUPowerPreference;
  /** Milliseconds each of requestAdapter / requestDevice / backend start may take (default 15000). */
  timeoutMs?: number;
  /** A registered tfjs backend to activate when WebGPU cannot start (e.g. 'wasm'); without one, setup throws. */
  fallback?: string;
  /**
   * Node only: 'auto' (default) uses the system's Vulkan drivers and SwiftShader (from Debian's
   * chromium package) when they give no adapter; 'always' goes straight to SwiftShader; 'never' does not use it.
   */
  swiftshader?: 'auto' | 'always' | 'never';
  /**
   * `dataSync()`/`arraySync()` of GPU memory: 'auto' (default) refuses them with a clear error where
   * tfjs-backend-webgpu cannot do them — Node (no OffscreenCanvas) and Web Workers (there the
   * OffscreenCanvas read returned zeros and then destroyed the device, Chromium + SwiftShader) —
   * and allows them on a page's main thread; 'allow' / 'refuse' force it.
   */
  syncReads?: 'auto' | 'allow' | 'refuse';
  /** Register this package's WGSL kernels for core's Peft ops (default true). */
  kernels?: boolean;
  /** Receives the reason line and device-loss messages. */
  log?: (msg: string) => void;
  /** Loads the optional `webgpu` package (Node); for tests. */
  importer?: Importer;
}

function describe(info: GPUAdapterInfo | undefined, fallbackFlag: boolean | undefined): AdapterDescription {
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    fallback:
      Boolean(fallbackFlag ?? (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter) ||
      /swiftshader|llvmpipe|lavapipe/i.test(`${info?.vendor} ${info?.architecture} ${info?.description}`),
  };
}

function pickLimits(adapter: GPUAdapter, want: SetupOptions['limits']): Partial<Limits> {
  if (want === undefined || want === 'default') return {};
  const out: Partial<Limits> = {};
  for (const k of LIMIT_NAMES) {
    const offered = adapter.limits[k];
    if (want === 'adapter') out[k] = offered;
    else if (want[k] !== undefined) {
      if (want[k]! > offered)
        throw new WebGPUError('limit', `limits.${k} = ${want[k]} asked for, but the adapter offers at most ${offered}`);
      out[k] = want[k];
    }
  }
  return out;
}

const readLimits = (l: GPUSupportedLimits): Limits => Object.fromEntries(LIMIT_NAMES.map((k) => [k, l[k]])) as Limits;

const inWorker = (): boolean =>
  typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined' &&
  typeof (globalThis as { importScripts?: unknown }).importScripts === 'function';

/** Sync reads where they cannot work fail clearly, instead of "OffscreenCanvas is not defined" or zeros. */
function refuseSyncReads(backend: WebGPUBackend, mode: SetupOptions['syncReads']): void {
  const refuse = mode === 'refuse' || (mode !== 'allow' && (typeof OffscreenCanvas === 'undefined' || inWorker()));
  if (!refuse) return;
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    if (backend.tensorMap.get(dataId)?.values != null) return readSync(dataId);
    const where = inWorker()
      ? 'in a Web Worker (the OffscreenCanvas read gives zeros and loses the device)'
      : typeof OffscreenCanvas === 'undefined'
        ? 'here (no OffscreenCanvas: Dawn in Node has no synchronous readback)'
        : 'here (syncReads: "refuse")';
    throw new WebGPUError('sync-read', `dataSync()/arraySync() cannot read GPU memory ${where}; use await tensor.data() / tensor.array()`);
  };
}

/** Errors the device reported surface at the next read (`await t.data()`), not as zeros. */
function checkOnRead(backend: WebGPUBackend, guard: DeviceGuard): void {
  const read = backend.read.bind(backend);
  backend.read = async (dataId: object) => {
    guard.check();
    const values = await read(dataId);
    guard.check();
    return values;
  };
}

/**
 * Activates tfjs's WebGPU backend on a device of our own — in a browser or worker through
 * `navigator.gpu`, in Node through Dawn (the optional `webgpu` package) — with stock gradients,
 * this package's missing gradients and WGSL kernels, and the error checks of `guard.ts`.
 * Every request has a timeout. When WebGPU cannot start, it activates `opts.fallback` and says why,
 * or throws a `WebGPUError` naming the reason. Calling it again replaces the device (after a loss).
 */
export async function setupWebGPU(opts: SetupOptions = {}): Promise<BackendInfo> {
  const log = opts.log ?? (() => {});
  const importer = opts.importer ?? defaultImporter;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const why: string[] = [];
  prepareNodeEnv();
  await ensureGradients();
  try {
    const { adapter, device } = await openDevice(opts, importer, timeoutMs, why);
    const guard = guardDevice(device);
    void guard.lost.then((reason) => log(`@peftjs/backend-webgpu: ${reason}`));
    const adapterInfo = (adapter as { info?: GPUAdapterInfo }).info;
    const previous = tf.findBackendFactory('webgpu') ? (tf.findBackend('webgpu') as WebGPUBackend | null) : null;
    if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
    // the replaced device is destroyed: Dawn keeps every live device (and its threads) until exit
    if (previous && previous.device !== device) previous.device.destroy();
    let backend: WebGPUBackend | null = null;
    tf.registerBackend('webgpu', () => (backend = new WebGPUBackend(device, adapterInfo)), 3);
    if (!(await withTimeout(tf.setBackend('webgpu'), timeoutMs, 'tf.setBackend("webgpu")')) || !backend) {
      throw new WebGPUError('internal', 'the webgpu backend did not initialize on the device');
    }
    refuseSyncReads(backend, opts.syncReads);
    checkOnRead(backend, guard);
    if (opts.kernels !== false) registerWebGPUKernels();
    const desc = describe(adapterInfo, (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter);
    const requestedLimits = pickLimits(adapter, opts.limits);
    const limits = readLimits(device.limits);
    why.push(
      `limits: buffer ${formatBytes(limits.maxBufferSize)}, binding ${formatBytes(limits.maxStorageBufferBindingSize)}` +
        (Object.keys(requestedLimits).length ? " (asked for the adapter's)" : ' (WebGPU defaults)'),
    );
    const label = `${desc.vendor} ${desc.architecture || desc.device}`.trim() || 'unnamed adapter';
    const reason = `webgpu (${label}${desc.fallback ? ', software' : ''}): ${why.join('; ')}`;
    log(`@peftjs/backend-webgpu: ${reason}`);
    return {
      name: 'webgpu',
      gpu: !desc.fallback,
      threads: 0,
      simd: false,
      reason,
      adapter: desc,
      requestedLimits,
      limits,
      adapterLimits: readLimits(adapter.limits),
      guard,
    };
  } catch (e) {
    const msg = (e as Error).message.replace(/^@peftjs\/backend-webgpu: /, '');
    why.push(msg);
    if (!opts.fallback) {
      throw e instanceof WebGPUError
        ? new WebGPUError(e.kind, `no WebGPU: ${why.join('; ')}`)
        : new WebGPUError('internal', `no WebGPU: ${why.join('; ')}`);
    }
    if (!(await tf.setBackend(opts.fallback)))
      throw new WebGPUError('internal', `no WebGPU (${why.join('; ')}) and the fallback backend '${opts.fallback}' did not start`);
    const reason = `${opts.fallback}: WebGPU unavailable: ${why.join('; ')}`;
    log(`@peftjs/backend-webgpu: ${reason}`);
    return { name: opts.fallback, gpu: false, threads: 1, simd: false, reason };
  }
}

async function openDevice(
  opts: SetupOptions,
  importer: Importer,
  timeoutMs: number,
  why: string[],
): Promise<{ adapter: GPUAdapter; device: GPUDevice }> {
  const mode = opts.swiftshader ?? 'auto';
  const icd = mode === 'never' ? null : await swiftShaderIcd(importer);
  if (mode === 'always') {
    if (!icd)
      throw new WebGPUError(
        'internal',
        'swiftshader: "always" asked for, but no SwiftShader ICD file was found (Debian: apt install chromium libvulkan1)',
      );
    process.env['VK_ICD_FILENAMES'] = icd;
  }
  const source = await findGpu(importer, []);
  why.push(...source.notes);
  if (!source.gpu) throw new WebGPUError('internal', why.pop() ?? 'no navigator.gpu');
  const request = (gpu: GPU) =>
    withTimeout(gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' }), timeoutMs, 'requestAdapter');
  let adapter = await request(source.gpu);
  if (source.via === 'dawn')
    why.push(
      `Dawn in Node (webgpu package${process.env['VK_ICD_FILENAMES'] ? `, VK_ICD_FILENAMES=${process.env['VK_ICD_FILENAMES']}` : ''})`,
    );
  if (!adapter && source.recreate && mode === 'auto' && icd && !process.env['VK_ICD_FILENAMES']) {
    process.env['VK_ICD_FILENAMES'] = icd;
    adapter = await request(source.recreate());
    why.push(`the system's Vulkan drivers gave no adapter: SwiftShader (${icd})`);
  }
  if (!adapter) {
    const hint = isNode() ? " (Node: Dawn needs a Vulkan driver and libvulkan1; Debian's chromium package ships SwiftShader)" : '';
    throw new WebGPUError('internal', `requestAdapter returned null${hint}`);
  }
  const requiredLimits = pickLimits(adapter, opts.limits);
  const device = await withTimeout(adapter.requestDevice({ requiredLimits }), timeoutMs, 'requestDevice');
  return { adapter, device };
}
