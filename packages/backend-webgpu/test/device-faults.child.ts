/**
 * The device-fault checks, run in a child process by `device-faults.test.ts`: Dawn 0.6.2 on
 * SwiftShader deadlocks a process in about one run of eight after these (every check passed, the
 * process never exits), so they run where a hang at exit costs nothing: each check prints one JSON
 * line `{ check, ok, error? }`, then `{ done: true }`; the parent asserts on those lines and kills
 * a child that does not exit after them.
 *
 * Run alone: `tsx --conditions=@peftjs/source test/device-faults.child.ts`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendInfo, WebGPUError, setupWebGPU } from '../src/index.js';
import { releaseWebGPU } from '../src/release.js';

export const CHECKS = [
  'an error the device reports is thrown at the next read, and the device computes after it',
  'error scopes catch what a block caused',
  'asks for the adapter limits when told to and reports what it got',
  'without the webgpu package: a clear reason, thrown or with the fallback backend active',
  'a lost device fails later work with the reason, and setupWebGPU again resumes',
] as const;

function assert(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

async function rejects(p: Promise<unknown>, want: RegExp | (new (...a: never[]) => Error)): Promise<void> {
  try {
    await p;
  } catch (e) {
    const ok = want instanceof RegExp ? want.test((e as Error).message) : e instanceof want;
    assert(ok, `rejected with "${(e as Error).message}", expected ${String(want)}`);
    return;
  }
  throw new Error(`resolved, expected a rejection matching ${String(want)}`);
}

function throws(f: () => unknown, want: RegExp): void {
  try {
    f();
  } catch (e) {
    assert(want.test((e as Error).message), `threw "${(e as Error).message}", expected ${String(want)}`);
    return;
  }
  throw new Error(`did not throw, expected ${String(want)}`);
}

const values = async (t: tf.Tensor) => Array.from(await t.data()).join(',');

async function main(): Promise<void> {
  let info: BackendInfo = await setupWebGPU();
  /** A validation error that leaves no invalid object behind: a write at an offset not a multiple of 4. */
  const misalignedWrite = () => {
    const device = info.guard!.device;
    const buffer = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 1, new Uint8Array(4));
    return buffer;
  };
  const run: Record<(typeof CHECKS)[number], () => Promise<void>> = {
    [CHECKS[0]]: async () => {
      misalignedWrite().destroy();
      await rejects(tf.add(tf.ones([4]), 1).data(), WebGPUError);
      assert((await values(tf.add(tf.ones([2]), 1))) === '2,2', 'computes after the error');
    },
    [CHECKS[1]]: async () => {
      await rejects(
        info.guard!.scoped(() => misalignedWrite().destroy()),
        /the device reported an error/,
      );
    },
    [CHECKS[2]]: async () => {
      const more = await setupWebGPU({ limits: 'adapter' });
      assert(more.limits!.maxBufferSize === more.adapterLimits!.maxBufferSize, 'granted the adapter maxBufferSize');
      assert(more.requestedLimits!.maxBufferSize === more.adapterLimits!.maxBufferSize, 'asked for the adapter maxBufferSize');
      await rejects(
        setupWebGPU({ limits: { maxBufferSize: 2 ** 52 } }),
        /maxBufferSize = 4503599627370496 asked for, but the adapter offers at most/,
      );
      info = await setupWebGPU();
    },
    [CHECKS[3]]: async () => {
      const missing = (name: string) =>
        name === 'webgpu'
          ? Promise.reject(Object.assign(new Error(`Cannot find package 'webgpu'`), { code: 'ERR_MODULE_NOT_FOUND' }))
          : import(name);
      await rejects(setupWebGPU({ importer: missing, swiftshader: 'never' }), /no WebGPU: Node without the optional `webgpu` package/);
      const fb = await setupWebGPU({ importer: missing, swiftshader: 'never', fallback: 'cpu' });
      assert(fb.name === 'cpu' && tf.getBackend() === 'cpu', `fallback active, got ${fb.name} / ${tf.getBackend()}`);
      assert(/^cpu: WebGPU unavailable: Node without the optional `webgpu` package/.test(fb.reason), `reason: ${fb.reason}`);
      info = await setupWebGPU();
    },
    [CHECKS[4]]: async () => {
      await tf.ones([3]).data();
      info.guard!.device.destroy();
      assert(/device lost \(destroyed\)/.test(await info.guard!.lost), 'lost says destroyed');
      throws(() => tf.add(tf.ones([1024]), 2), /device lost .*create a new backend \(setupWebGPU\) and resume from the last checkpoint/);
      info = await setupWebGPU();
      assert((await values(tf.add(tf.ones([2]), 2))) === '3,3', 'the new device computes');
    },
  };
  for (const check of CHECKS) {
    try {
      await run[check]();
      console.log(JSON.stringify({ check, ok: true }));
    } catch (e) {
      console.log(JSON.stringify({ check, ok: false, error: (e as Error).message }));
    }
  }
  await releaseWebGPU('cpu'); // Dawn must be idle before the process exits
  console.log(JSON.stringify({ done: true }));
}

// only when run as the child, not when the parent imports CHECKS
if (process.argv[1]?.endsWith('device-faults.child.ts')) {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      console.log(JSON.stringify({ fatal: e.message }));
      process.exit(1);
    },
  );
}
