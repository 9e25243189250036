import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../src/index.js';

const require = createRequire(import.meta.url);
function installed(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}
const hasTfjsNode = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');
if (!hasTfjsNode) {
  console.log(
    'tensorflow backend test skipped: neither @tensorflow/tfjs-node nor @tensorflow/tfjs-node-gpu is installed (their install downloads libtensorflow, which this machine cannot)',
  );
}

const missing = (name: string) =>
  Promise.reject(Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_MODULE_NOT_FOUND' }));

describe('setupBackend', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it.skipIf(hasTfjsNode)("'auto' picks wasm with SIMD and says why tfjs-node was not used", async () => {
    const messages: string[] = [];
    // threads are fixed at the first wasm start of a process: ask for all cores here (the default is 2)
    const cores = Math.min(8, (await import('node:os')).availableParallelism());
    const info = await setupBackend({ log: (m) => messages.push(m), threads: cores });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.gpu).toBe(false);
    expect(info.simd).toBe(true);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.reason).toContain('@tensorflow/tfjs-node-gpu not installed');
    expect(info.reason).toContain('@tensorflow/tfjs-node not installed');
    expect(messages).toEqual([`@peftjs/backend-node: ${info.reason}`]);
  });

  it("threads go to peftjs' GEMM (as many as asked at the first start) on a shared heap; XNNPACK keeps 1", async () => {
    const info = await setupBackend({ prefer: 'wasm' });
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const cores = Math.min(8, (await import('node:os')).availableParallelism());
    expect(info.threads).toBe(cores);
    expect(wasm.getThreadsCount()).toBe(1);
    const memory = (tf.backend() as unknown as { wasm: { wasmMemory?: WebAssembly.Memory } }).wasm.wasmMemory;
    expect(cores === 1 || memory?.buffer instanceof SharedArrayBuffer).toBe(true);
  });

  it("'cpu' activates cpu and gradients work there", async () => {
    const info = await setupBackend({ prefer: 'cpu' });
    expect(info).toMatchObject({ name: 'cpu', gpu: false, threads: 1 });
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x, x)))(tf.tensor2d([1, 2, 3, 4], [2, 2]));
    expect(Array.from(g.dataSync())).toEqual([7, 11, 9, 13]);
  });

  it("'tensorflow' throws naming both packages when neither loads", async () => {
    await expect(setupBackend({ prefer: 'tensorflow', importer: missing })).rejects.toThrow(
      /tfjs-node-gpu not installed; @tensorflow\/tfjs-node not installed/,
    );
  });

  it('a tfjs-node that fails to load is reported with its error, and wasm is used', async () => {
    const broken = (name: string) =>
      name.endsWith('-gpu') ? missing(name) : Promise.reject(new Error('libtensorflow.so.2: cannot open shared object file'));
    const info = await setupBackend({ importer: broken });
    expect(info.name).toBe('wasm');
    expect(info.reason).toContain('@tensorflow/tfjs-node failed to load (libtensorflow.so.2: cannot open shared object file)');
  });

  it.runIf(hasTfjsNode)("'tensorflow' loads tfjs-node and reports whether a GPU is used", async () => {
    const info = await setupBackend({ prefer: 'tensorflow' });
    expect(info.name).toBe('tensorflow');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(typeof info.gpu).toBe('boolean');
  });
});
