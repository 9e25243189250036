import * as tf from '@tensorflow/tfjs-core';
import { decodeTensors } from './io/safetensors-read.js';
import { serializeSafetensors } from './io/safetensors-write.js';
import type { Module } from './nn/module.js';

/**
 * Extra files beside `adapter_model.safetensors` (a method's `state.extraFiles`): named tensors
 * in safetensors format, such as the weights of an encoder whose output is all PEFT saves. The
 * file names are the method's; these are the generic steps of writing and reading them back.
 */

/** Decodes a safetensors file and hands its tensors to `use`, disposing them afterwards (also when it throws). */
export function withDecodedTensors<T>(bytes: Uint8Array, file: string, use: (tensors: Map<string, tf.Tensor>) => T): T {
  const tensors = decodeTensors(bytes, file);
  try {
    return use(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

/** `withDecodedTensors` for an async `use` (the tensors live until its promise settles). */
export async function withDecodedTensorsAsync<T>(
  bytes: Uint8Array,
  file: string,
  use: (tensors: Map<string, tf.Tensor>) => Promise<T>,
): Promise<T> {
  const tensors = decodeTensors(bytes, file);
  try {
    return await use(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

/** A module's parameters as a safetensors file, by their paths (`transform.0.weight`, …). */
export function encodeParameters(params: Module): Uint8Array {
  return serializeSafetensors(new Map(params.namedParameters()), { metadata: { format: 'pt' } });
}

/** Throws, listing every missing, unexpected or wrongly shaped tensor, unless `got` has exactly `want`. */
export function checkTensorShapes(want: ReadonlyMap<string, readonly number[]>, got: ReadonlyMap<string, tf.Tensor>, file: string): void {
  const problems: string[] = [];
  for (const [k, shape] of want) {
    const t = got.get(k);
    if (!t) problems.push(`missing ${k}`);
    else if (t.shape.join() !== shape.join()) problems.push(`${k}: shape [${t.shape}] in file, [${shape}] expected`);
  }
  for (const k of got.keys()) if (!want.has(k)) problems.push(`unexpected ${k}`);
  if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
}

/**
 * Throws unless the encoder weights of an extra file reproduce the output saved as `savedName`
 * in `adapter_model.safetensors` (a stale extra file beside a newer adapter file), within a
 * relative 1e-4.
 */
export function checkSameOutput(fromEncoder: tf.Tensor, saved: tf.Tensor, file: string, savedName: string): void {
  const [diff, scale] = tf.tidy(() => outputGap(fromEncoder, saved).dataSync());
  sameOutputOrThrow(diff!, scale!, file, savedName);
}

/** `checkSameOutput` read with `await data()`: works on every backend (WebGPU in Node or a worker too). */
export async function checkSameOutputAsync(fromEncoder: tf.Tensor, saved: tf.Tensor, file: string, savedName: string): Promise<void> {
  const gap = outputGap(fromEncoder, saved);
  try {
    const [diff, scale] = await gap.data();
    sameOutputOrThrow(diff!, scale!, file, savedName);
  } finally {
    gap.dispose();
  }
}

/** [max |fromEncoder − saved|, max |saved|]: [2]. */
function outputGap(fromEncoder: tf.Tensor, saved: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.stack([tf.max(tf.abs(tf.sub(fromEncoder, saved))), tf.max(tf.abs(saved))]) as tf.Tensor1D);
}

function sameOutputOrThrow(diff: number, scale: number, file: string, savedName: string): void {
  if (!(diff <= 1e-4 * Math.max(1, scale))) {
    throw new Error(
      `${file}: the encoder weights do not reproduce ${savedName} of adapter_model.safetensors (max diff ${diff}); delete the stale ${file} to load the adapter for inference`,
    );
  }
}
