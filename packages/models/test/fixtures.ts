import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { readFileSync, existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensorsFile, entryToTensor } from '@peftjs/core/io';

/** The shared reference files: $PEFTJS_FIXTURES, else <repo root>/../shared/fixtures. */
export const FIXTURES = process.env.PEFTJS_FIXTURES ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures');

export interface FixtureIndex {
  bases: Record<string, { dir: string }>;
  cases?: Record<string, unknown>;
}

export function fixtureIndex(): FixtureIndex {
  return JSON.parse(readFileSync(join(FIXTURES, 'index.json'), 'utf8')) as FixtureIndex;
}

export function fixturesPresent(): boolean {
  return existsSync(join(FIXTURES, 'index.json'));
}

/** Every tensor of a safetensors file (ints as int32). */
export async function readTensors(path: string): Promise<Record<string, tf.Tensor>> {
  const f = await readSafetensorsFile(path);
  const out: Record<string, tf.Tensor> = {};
  for (const [name, e] of f.tensors) out[name] = entryToTensor(e, path);
  return out;
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}
