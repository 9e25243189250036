import * as tf from '@tensorflow/tfjs-core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { heapMemory, sizeOf } from './rows.js';
import { fastPaths } from './state.js';
import { replaceWasmKernel } from './replace-kernel.js';

type Info = tf.TensorInfo;

interface GatherArgs {
  inputs: { x: Info; indices: Info };
  backend: WasmHeapBackend;
  attrs: { axis: number; batchDims: number };
}

let stockGather: tf.KernelConfig | null = null;

/**
 * GatherV2 on wasm for the embedding lookup's case (axis 0, no batch dims, 4-byte values, int32
 * indices): whole rows copied on the heap with `TypedArray.set`. The stock kernel computes every
 * element's source index in a scalar loop (~30 ns an element: 4–6 ms for the reference model's
 * 8×64 tokens of 256 values). Out-of-range indices throw before anything is allocated, with the
 * stock kernel's message; any other case runs the stock kernel.
 */
function rowGather(args: GatherArgs): Info {
  const { inputs, backend, attrs } = args;
  const { x, indices } = inputs;
  const rank = x.shape.length;
  const axis = attrs.axis < 0 ? attrs.axis + rank : attrs.axis;
  const fourBytes = x.dtype === 'float32' || x.dtype === 'int32';
  if (!fastPaths.gatherKernel || axis !== 0 || attrs.batchDims !== 0 || !fourBytes || indices.dtype !== 'int32' || rank < 1) {
    return (stockGather!.kernelFunc as unknown as (a: GatherArgs) => Info)(args);
  }
  const n = x.shape[0]!;
  const row = sizeOf(x.shape.slice(1));
  const count = sizeOf(indices.shape);
  const idx = new Int32Array(heapMemory(backend, 'GatherV2').buffer, ptrOf(backend, indices), count).slice();
  for (const i of idx) if (!(i >= 0 && i < n)) throw new Error(`GatherV2: the index value ${i} is not in [0, ${n - 1}]`);
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  const buf = heapMemory(backend, 'GatherV2').buffer; // after makeOutput, which may grow the heap
  const src = new Int32Array(buf, ptrOf(backend, x), n * row);
  const dst = new Int32Array(buf, ptrOf(backend, out), count * row);
  for (let j = 0; j < count; j++) dst.set(src.subarray(idx[j]! * row, (idx[j]! + 1) * row), j * row);
  return out;
}

/** Replaces the wasm GatherV2 kernel (once); the stock one stays for the other cases and `gatherKernel: false`. */
export function registerWasmGatherKernel(): void {
  if (!stockGather) stockGather = replaceWasmKernel('GatherV2', rowGather);
}
