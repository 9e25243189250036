import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, serializeEntries, type SafetensorsEntry } from '@peftjs/core/io';
import { FIXTURES } from '@peftjs/testing/fixtures';
import type { LlamaForCausalLM } from '@peftjs/models';

export const QLORA = join(FIXTURES, 'qlora');
/** Every 4-bit fixture folder (data-driven: whatever folders exist). */
export const QLORA_FOLDERS = existsSync(QLORA)
  ? readdirSync(QLORA).filter(
      (d) => existsSync(join(QLORA, d, 'model.safetensors')) && existsSync(join(QLORA, d, 'dequantized.safetensors')),
    )
  : [];

export const readEntries = (f: string): Map<string, SafetensorsEntry> => parseSafetensors(new Uint8Array(readFileSync(f)), f).tensors;

/**
 * The float folder of a 4-bit fixture: its float tensors, and each 4-bit linear's weight from
 * `dequantized.safetensors` (F32), with the config's quantization_config removed.
 */
export function floatFolderOf(dir: string): string {
  const out = mkdtempSync(join(tmpdir(), 'qlora-float-'));
  const model = readEntries(join(dir, 'model.safetensors'));
  const deq = readEntries(join(dir, 'dequantized.safetensors'));
  const keep = [...model.values()].filter((e) => {
    const base = e.name.replace(/\.weight(\..*)?$/, '.weight');
    return !deq.has(base) && !/\.weight\./.test(e.name);
  });
  const entries = [...keep, ...deq.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  writeFileSync(join(out, 'model.safetensors'), serializeEntries(entries, { format: 'pt' }));
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  delete config.quantization_config;
  writeFileSync(join(out, 'config.json'), JSON.stringify(config));
  if (existsSync(join(dir, 'generation_config.json')))
    copyFileSync(join(dir, 'generation_config.json'), join(out, 'generation_config.json'));
  return out;
}

/** Logits of a causal LM on a fixed batch: [B, T, V]. */
export function probeLogits(model: LlamaForCausalLM, vocab: number): tf.Tensor {
  return tf.tidy(() => {
    const ids = tf.tensor2d(
      [
        [1, 5, 9, 17, 33, 65 % vocab, 3, 2],
        [4, 8, 15, 16, 23, 42 % vocab, 7, 1],
      ],
      [2, 8],
      'int32',
    );
    return model.forward({ inputIds: ids, attentionMask: tf.onesLike(ids) }).logits;
  });
}

export const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
