/**
 * WebGPU reports most failures out of band: a buffer over a limit is created invalid, kernels that
 * use it write nothing, and reads return zeros. This turns those into exceptions: sizes are checked
 * against the device's limits before tfjs creates a buffer or a binding, errors the device reports
 * (validation, out-of-memory, internal) are collected and thrown at the next read, and a lost device
 * fails every later call with the reason.
 */

export type WebGPUErrorKind = 'limit' | 'validation' | 'out-of-memory' | 'internal' | 'device-lost' | 'sync-read';

export class WebGPUError extends Error {
  constructor(
    readonly kind: WebGPUErrorKind,
    message: string,
  ) {
    super(`@peftjs/backend-webgpu: ${message}`);
    this.name = 'WebGPUError';
  }
}

const MiB = 1024 * 1024;
export const formatBytes = (n: number): string => (n >= MiB ? `${(n / MiB).toFixed(n % MiB ? 1 : 0)} MiB` : `${n} B`);

export interface DeviceGuard {
  readonly device: GPUDevice;
  /** Set once the device is lost (destroyed, driver reset, background tab): why. */
  readonly lostReason: string | null;
  /** Resolves when the device is lost, with the reason. */
  readonly lost: Promise<string>;
  /** Throws the first error the device reported since the last call (and forgets them all), or the loss. */
  check(): void;
  /** Runs `fn` inside validation and out-of-memory error scopes; throws a `WebGPUError` if either caught one. */
  scoped<T>(fn: () => T | Promise<T>): Promise<T>;
}

function kindOf(error: GPUError): WebGPUErrorKind {
  const name = error.constructor?.name ?? '';
  if (name.includes('OutOfMemory')) return 'out-of-memory';
  if (name.includes('Internal')) return 'internal';
  return 'validation';
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/** Installs the checks on `device` (once per device) and returns its guard. */
export function guardDevice(device: GPUDevice): DeviceGuard {
  const pending: GPUError[] = [];
  let lostReason: string | null = null;
  const lost = device.lost.then((info) => {
    lostReason = `device lost (${info.reason ?? 'unknown'}): ${info.message || 'no message'}`;
    return lostReason;
  });
  device.addEventListener('uncapturederror', (e) => pending.push((e as GPUUncapturedErrorEvent).error));

  const failIfLost = () => {
    if (lostReason)
      throw new WebGPUError('device-lost', `${lostReason}; create a new backend (setupWebGPU) and resume from the last checkpoint`);
  };
  const limits = device.limits;
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor) => {
    failIfLost();
    if (desc.size > limits.maxBufferSize) {
      throw new WebGPUError(
        'limit',
        `a ${formatBytes(desc.size)} buffer exceeds this device's maxBufferSize of ${formatBytes(limits.maxBufferSize)} ` +
          `(ask for more with setupWebGPU({ limits: 'adapter' }) or split the tensor)`,
      );
    }
    return createBuffer(desc);
  };
  const createBindGroup = device.createBindGroup.bind(device);
  device.createBindGroup = (desc: GPUBindGroupDescriptor) => {
    failIfLost();
    for (const entry of desc.entries) {
      const res = entry.resource as GPUBufferBinding;
      if (!res || typeof res !== 'object' || !('buffer' in res)) continue;
      const size = res.size ?? res.buffer.size - (res.offset ?? 0);
      if (size > limits.maxStorageBufferBindingSize) {
        throw new WebGPUError(
          'limit',
          `binding ${entry.binding} of ${formatBytes(size)} exceeds this device's maxStorageBufferBindingSize of ` +
            `${formatBytes(limits.maxStorageBufferBindingSize)} (a tensor that large must be split, or ask for more with setupWebGPU({ limits: 'adapter' }))`,
        );
      }
    }
    return createBindGroup(desc);
  };

  const check = () => {
    failIfLost();
    const e = pending.shift();
    pending.length = 0;
    if (e) throw new WebGPUError(kindOf(e), `the device reported an error: ${firstLine(e.message)}`);
  };
  const scoped = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let result: T;
    try {
      result = await fn();
    } finally {
      const validation = await device.popErrorScope();
      const oom = await device.popErrorScope();
      const e = oom ?? validation;
      // eslint-disable-next-line no-unsafe-finally
      if (e) throw new WebGPUError(kindOf(e), `the device reported an error: ${firstLine(e.message)}`);
    }
    return result;
  };
  return {
    device,
    get lostReason() {
      return lostReason;
    },
    lost,
    check,
    scoped,
  };
}
