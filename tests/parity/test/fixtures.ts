import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { type PeftMethod } from '@peftjs/core';
import { entryToTensor, parseSafetensors } from '@peftjs/core/io';

const here = dirname(fileURLToPath(import.meta.url));
/** `$PEFTJS_FIXTURES`, default `<repo>/../shared/fixtures`. */
export const FIXTURES = resolve(process.env.PEFTJS_FIXTURES ?? join(here, '../../../../shared/fixtures'));

export interface FixtureCase {
  case: string;
  method: string;
  status: string;
  [k: string]: unknown;
}

export interface FixtureIndex {
  bases: Record<string, { dir: string }>;
  cases: FixtureCase[];
}

export function readIndex(): FixtureIndex {
  const p = join(FIXTURES, 'index.json');
  if (!existsSync(p)) throw new Error(`No fixtures index at ${p} (set PEFTJS_FIXTURES)`);
  return JSON.parse(readFileSync(p, 'utf8')) as FixtureIndex;
}

export function readTensors(file: string): Map<string, tf.Tensor> {
  const parsed = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  const out = new Map<string, tf.Tensor>();
  for (const [name, e] of parsed.tensors) out.set(name, entryToTensor(e, file));
  return out;
}

/** Read asynchronously: on webgpu in Node there is no synchronous readback. */
export async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shape [${a.shape}] vs [${b.shape}]`);
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = (await d.data())[0]!;
  d.dispose();
  return v;
}

/** `PEFTJS_BACKEND=webgpu`: the parity cases run on WebGPU (see webgpu-setup.ts). */
export const ON_WEBGPU = process.env.PEFTJS_BACKEND === 'webgpu';

/** Package that provides a peft_type (first party). */
const PACKAGES: Record<string, string> = {
  LORA: '@peftjs/lora',
  ADALORA: '@peftjs/adalora',
  PROMPT_TUNING: '@peftjs/prompt',
  PREFIX_TUNING: '@peftjs/prefix',
  P_TUNING: '@peftjs/ptuning',
};

/** The built method for a peft_type, found among its package's exports; null when not built. */
export async function findMethod(type: string): Promise<PeftMethod | null> {
  const pkg = PACKAGES[type];
  if (!pkg) return null;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>;
  } catch {
    return null;
  }
  for (const v of Object.values(mod)) {
    const m = v as PeftMethod;
    if (m && typeof m === 'object' && m.__peftMethod === true && m.type === type) return m;
  }
  return null;
}

export function packageFor(type: string): string {
  return PACKAGES[type] ?? `(no first-party package for ${type})`;
}
