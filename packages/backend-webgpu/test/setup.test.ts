import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackendInfo, setupWebGPU } from '../src/index.js';
import { releaseWebGPU } from '../src/release.js';

// Device faults (an error the device reports, error scopes, replacing and losing the device) run in a
// child process: device-faults.test.ts (Dawn 0.6.2 on SwiftShader can deadlock a process at exit after them).

let info: BackendInfo;
beforeAll(async () => {
  info = await setupWebGPU();
});
afterAll(() => releaseWebGPU('cpu')); // Dawn must be idle before the worker exits

describe('setupWebGPU', () => {
  it('activates webgpu on a named adapter with WebGPU default limits and says why', () => {
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.name).toBe('webgpu');
    expect(info.adapter!.vendor.length + info.adapter!.architecture.length).toBeGreaterThan(0);
    expect(info.limits!.maxBufferSize).toBe(256 * 1024 * 1024);
    expect(info.limits!.maxStorageBufferBindingSize).toBe(128 * 1024 * 1024);
    expect(info.adapterLimits!.maxBufferSize).toBeGreaterThanOrEqual(info.limits!.maxBufferSize);
    expect(info.reason).toMatch(/^webgpu \(.+\): .*limits: buffer 256 MiB, binding 128 MiB/);
    if (info.adapter!.fallback) expect(info.gpu).toBe(false);
  });

  it("computes on the device: matMul equals cpu's", async () => {
    const a = tf.randomNormal([33, 17], 0, 1, 'float32', 1);
    const b = tf.randomNormal([17, 9], 0, 1, 'float32', 2);
    const got = await tf.matMul(a, b).data();
    const [av, bv] = [await a.data(), await b.data()];
    for (let i = 0; i < 33; i++) {
      for (let j = 0; j < 9; j++) {
        let s = 0;
        for (let k = 0; k < 17; k++) s += av[i * 17 + k]! * bv[k * 9 + j]!;
        expect(Math.abs(got[i * 9 + j]! - s)).toBeLessThan(1e-4);
      }
    }
  });
});

describe('errors surface instead of zeros', () => {
  it('a buffer over maxBufferSize throws a limit error naming the sizes', () => {
    expect(() => tf.fill([80 * 1024 * 1024], 1)).toThrow(/320 MiB buffer exceeds this device's maxBufferSize of 256 MiB/);
  });

  it('a binding over maxStorageBufferBindingSize throws', () => {
    expect(() => tf.fill([48 * 1024 * 1024], 1)).toThrow(
      /binding 0 of 192 MiB exceeds this device's maxStorageBufferBindingSize of 128 MiB/,
    );
  });

  it('dataSync in Node says to use data()', () => {
    const y = tf.add(tf.ones([4096]), 1); // small tensors run on the CPU (tfjs hands them off) and can be read
    expect(() => y.dataSync()).toThrow(/dataSync\(\)\/arraySync\(\) cannot read GPU memory here .*use await tensor.data\(\)/);
  });
});

const gpuBytes = () => (tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number }).numBytesInGPU ?? 0;

describe('kernels tfjs-backend-webgpu 4.22 lacks or limits', () => {
  it('AddN of more inputs than a shader stage may bind (15 and 50) equals the sum, and frees its partial sums', async () => {
    for (const n of [15, 50]) {
      const xs = Array.from({ length: n }, (_, i) => tf.fill([1500], i + 1));
      const before = gpuBytes();
      const s = tf.addN(xs);
      const got = await s.data();
      expect(got.every((v) => v === (n * (n + 1)) / 2)).toBe(true);
      expect(gpuBytes() - before, 'partial sums freed').toBeLessThanOrEqual(1500 * 4);
      expect((await xs[n - 1]!.data())[0]).toBe(n);
      tf.dispose([s, ...xs]);
    }
  });

  it('BitwiseAnd of int32 tensors equals the bits', async () => {
    const a = tf.tensor1d(
      Int32Array.from({ length: 2000 }, (_, i) => i * 7919 - 1_000_000),
      'int32',
    );
    // from host memory: webgpu's Fill passes its value as a float uniform (0x0f0f0f0f would round)
    const b = tf.tensor1d(new Int32Array(2000).fill(0x0f0f0f0f), 'int32');
    const got = await tf.bitwiseAnd(a, b).data();
    const av = await a.data();
    expect(Array.from(got)).toEqual(Array.from(av, (v) => v & 0x0f0f0f0f));
  });
});
