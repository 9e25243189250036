import { Worker } from 'node:worker_threads';
import { HELPER_SOURCE, type HelperFactory } from './pool.js';

/** GEMM helper threads in Node: worker_threads running pool.ts' helper loop (`unref`'d). */
export const nodeHelperFactory: HelperFactory = (init) => {
  const code =
    `${HELPER_SOURCE}\n` +
    "const { workerData } = require('node:worker_threads');\n" +
    'helperMain(workerData, (module, memory) => new WebAssembly.Instance(module, { env: { memory } }).exports.gemm);\n';
  const worker = new Worker(code, { eval: true, workerData: init });
  worker.unref();
};
