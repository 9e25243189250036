import * as tf from '@tensorflow/tfjs-core';
import { fastPaths } from './state.js';
import { replaceWasmKernel } from './replace-kernel.js';

interface RefCounted {
  incRef(dataId: object): void;
}

let stockIdentity: tf.KernelConfig | null = null;

/**
 * Identity on wasm that shares its input's data (a reference count, as tfjs-backend-cpu does)
 * instead of copying it. tfjs' engine clones — runs Identity on — every tensor it saves for a
 * gradient, and the stock wasm kernel copies, so a training step copied each frozen weight it used
 * (a LoRA step at the SmolLM-135M shape: 2,865 copies, the whole 538 MB base once more) and every
 * saved activation. Tensor data is never written in place (a variable's `assign` swaps data ids),
 * so sharing is safe.
 */
function sharedIdentity(args: { inputs: { x: tf.TensorInfo }; backend: RefCounted & object; attrs: object }): tf.TensorInfo {
  const { x } = args.inputs;
  if (!fastPaths.sharedIdentity || x.dtype === 'string')
    return (stockIdentity!.kernelFunc as unknown as (a: typeof args) => tf.TensorInfo)(args);
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** Replaces the wasm Identity kernel (once); the stock one stays for `sharedIdentity: false`. */
export function registerWasmIdentityKernel(): void {
  if (!stockIdentity) stockIdentity = replaceWasmKernel('Identity', sharedIdentity);
}
