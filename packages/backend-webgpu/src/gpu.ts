/**
 * Finding a `GPU` object (`navigator.gpu`) in a browser, a worker or Node (Dawn through the `webgpu`
 * npm package), and a device from it with timeouts, so that nothing here can hang.
 */

export type Importer = (name: string) => Promise<unknown>;

/** Dynamic `import()` that bundlers leave alone (the `webgpu` package is Node-only). */
export const defaultImporter: Importer = (name) => import(/* @vite-ignore */ name);

/** SwiftShader's Vulkan driver as Debian's `chromium` package installs it (software, slow, exact). */
export const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json'];

export interface GpuSource {
  gpu: GPU | null;
  /** 'browser' (navigator.gpu was there), 'dawn' (the `webgpu` package), or null. */
  via: 'browser' | 'dawn' | null;
  notes: string[];
  /** Only for 'dawn': makes a fresh `GPU` (Dawn instance), e.g. after changing the Vulkan driver. */
  recreate?: () => GPU;
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** GPU objects this module put on navigator (Node): found again, they are recreated, not taken for a browser's. */
const published = new WeakSet<GPU>();

const isNode = (): boolean => typeof process !== 'undefined' && process.versions?.node != null && typeof window === 'undefined';

/**
 * `navigator.gpu` when the platform has it (browsers on secure pages, workers, Deno); otherwise,
 * in Node, Dawn from the optional `webgpu` package, whose WebGPU globals (`GPUBufferUsage`, …)
 * are installed on `globalThis` because tfjs-backend-webgpu reads them there.
 */
export async function findGpu(importer: Importer, dawnFlags: string[]): Promise<GpuSource> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu && !published.has(nav.gpu)) return { gpu: nav.gpu, via: 'browser', notes: [] };
  if (!isNode()) {
    const secure = (globalThis as { isSecureContext?: boolean }).isSecureContext;
    const why =
      secure === false
        ? 'the page is not a secure context (open it from https://, http://localhost or file://)'
        : 'this browser has no WebGPU';
    return { gpu: null, via: null, notes: [`navigator.gpu is undefined: ${why}`] };
  }
  let dawn: DawnModule;
  try {
    dawn = (await importer('webgpu')) as DawnModule;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    const missing = /Cannot find (module|package)|ERR_MODULE_NOT_FOUND|Failed to load url|Could not resolve/.test(msg);
    return {
      gpu: null,
      via: null,
      notes: [missing ? 'Node without the optional `webgpu` package (npm i webgpu)' : `the \`webgpu\` package failed to load (${msg})`],
    };
  }
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const publish = (gpu: GPU): GPU => {
    // tfjs-backend-webgpu's WebGPUBackend refuses to start unless navigator.gpu exists.
    const g = globalThis as { navigator?: object };
    if (!g.navigator) g.navigator = {};
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
    published.add(gpu);
    return gpu;
  };
  return { gpu: publish(dawn.create(dawnFlags)), via: 'dawn', notes: [], recreate: () => publish(dawn.create(dawnFlags)) };
}

/** Resolves `p`, or rejects after `ms` with `what` in the message (the promise itself cannot be cancelled). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * In Node, the Vulkan driver Dawn loads: the system's unless none gives an adapter, then SwiftShader
 * when its ICD file exists (the Vulkan loader reads `VK_ICD_FILENAMES` each time an instance is
 * created, so a fresh Dawn instance picks it up). Sets `XDG_RUNTIME_DIR` when unset (Dawn warns
 * without it). Returns the ICD file chosen, or null.
 */
export async function swiftShaderIcd(importer: Importer): Promise<string | null> {
  if (!isNode()) return null;
  const fs = (await importer('node:fs')) as { existsSync(p: string): boolean };
  return SWIFTSHADER_ICDS.find((p) => fs.existsSync(p)) ?? null;
}

export function prepareNodeEnv(): void {
  if (isNode() && !process.env['XDG_RUNTIME_DIR']) process.env['XDG_RUNTIME_DIR'] = '/tmp';
}

export { isNode };
