import * as tf from '@tensorflow/tfjs-core';
import { entryToTensor, parseSafetensors, serializeSafetensors, type Module } from '@peftjs/core';

/**
 * The file beside `adapter_model.safetensors` that keeps the prompt encoder's own weights, which
 * PEFT does not save (it saves only the encoder's output). Tensor names are the encoder's
 * `state_dict()` keys in PEFT (`embedding.weight`, `transform.0.weight`, …), so that Python can
 * also resume from it: `model.prompt_encoder["default"].load_state_dict(load_file(path))`.
 */
export const ENCODER_FILE = 'peftjs_prompt_encoder.safetensors';

/** A module's parameters as a safetensors file, by their paths. */
export function encodeParameters(params: Module): Uint8Array {
  return serializeSafetensors(new Map(params.namedParameters()), { metadata: { format: 'pt' } });
}

/** The tensors of a safetensors file; they are the caller's to dispose. */
export function decodeTensors(bytes: Uint8Array, file: string): Map<string, tf.Tensor> {
  const parsed = parseSafetensors(bytes, file);
  const out = new Map<string, tf.Tensor>();
  try {
    for (const [name, e] of parsed.tensors) out.set(name, entryToTensor(e, file));
  } catch (e) {
    tf.dispose([...out.values()]);
    throw e;
  }
  return out;
}

/** Throws, listing every missing, unexpected or wrongly shaped tensor, unless `got` has exactly `want`. */
export function checkTensors(want: ReadonlyMap<string, readonly number[]>, got: ReadonlyMap<string, tf.Tensor>, file: string): void {
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
 * Throws unless the encoder weights reproduce the saved output (a stale encoder file beside a
 * newer adapter file) within a relative 1e-4.
 */
export function checkSameOutput(fromEncoder: tf.Tensor, saved: tf.Tensor, file: string, savedName: string): void {
  const [diff, scale] = tf.tidy(() => [tf.max(tf.abs(tf.sub(fromEncoder, saved))), tf.max(tf.abs(saved))].map((t) => t.dataSync()[0]));
  if (!(diff <= 1e-4 * Math.max(1, scale))) {
    throw new Error(`${file}: the encoder weights do not reproduce ${savedName} of adapter_model.safetensors (max diff ${diff}); delete the stale ${file} to load the adapter for inference`);
  }
}
