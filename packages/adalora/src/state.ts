import * as tf from '@tensorflow/tfjs-core';
import type { AdapterRecord } from '@peftjs/core';
import { rankMask, type AdaLoraConfig } from './config.js';
import { AdaLoraHook } from './layer.js';

const FACTORS = ['lora_A', 'lora_E', 'lora_B'] as const;
type FactorName = (typeof FACTORS)[number];
/** The rank axis of each factor: A [r, in] and E [r, 1] by rows, B [out, r] by columns. */
const RANK_AXIS: Record<FactorName, number> = { lora_A: 0, lora_E: 0, lora_B: 1 };

/** Slices made for the last save, freed at the next one (saving does not dispose what `save` returns). */
const lastSlices = new WeakMap<AdapterRecord, tf.Tensor[]>();

/** Indices of the kept ranks. */
function kept(mask: readonly boolean[]): number[] {
  return mask.flatMap((b, i) => (b ? [i] : []));
}

/**
 * PEFT's saved state of an AdaLoRA adapter: `base_model.model.<path>.lora_A|lora_E|lora_B` (no
 * `.weight`), each sliced to the ranks `rank_pattern` keeps (A and E by rows, B by columns), as
 * `get_peft_model_state_dict` + `resize_state_dict_by_rank_pattern` write them.
 */
export function adaLoraState(record: AdapterRecord): Map<string, tf.Tensor> {
  const config = record.config as AdaLoraConfig;
  tf.dispose(lastSlices.get(record) ?? []);
  const slices: tf.Tensor[] = [];
  const out = new Map<string, tf.Tensor>();
  for (const h of record.hooks) {
    if (!(h.hook instanceof AdaLoraHook)) continue;
    const mask = rankMask(config.rank_pattern, h.slot.info.path, record.name);
    const slice = mask && mask.length === h.hook.r && mask.some((b) => !b);
    for (const f of FACTORS) {
      const v = h.params.parameter(f)!;
      if (!slice) {
        out.set(h.keyPrefix + f, v);
        continue;
      }
      const t = tf.tidy(() => tf.gather(v, tf.tensor1d(kept(mask), 'int32'), RANK_AXIS[f]));
      slices.push(t);
      out.set(h.keyPrefix + f, t);
    }
  }
  lastSlices.set(record, slices);
  return out;
}

/**
 * Loads PEFT's AdaLoRA tensors. A tensor has the variable's shape (the adapter was sized by the
 * config's `rank_pattern`), or holds only the kept ranks of a full-rank variable (a checkpoint
 * saved mid-training): it is then scattered to the kept ranks and the others are zero. Every name
 * and shape is checked before anything changes.
 */
export function loadAdaLoraState(record: AdapterRecord, tensors: Map<string, tf.Tensor>, file: string): void {
  const config = record.config as AdaLoraConfig;
  const problems: string[] = [];
  const assignments: Array<[tf.Variable, tf.Tensor, number[] | null, number]> = [];
  const expected = new Set<string>();
  for (const h of record.hooks) {
    if (!(h.hook instanceof AdaLoraHook)) continue;
    const mask = rankMask(config.rank_pattern, h.slot.info.path, record.name);
    for (const f of FACTORS) {
      const key = h.keyPrefix + f;
      expected.add(key);
      const v = h.params.parameter(f)!;
      const t = tensors.get(key);
      if (!t) {
        problems.push(`missing ${key}`);
        continue;
      }
      const axis = RANK_AXIS[f];
      const same = t.shape.length === v.shape.length && t.shape.every((d, i) => d === v.shape[i]);
      const scattered =
        !same &&
        mask &&
        mask.length === v.shape[axis] &&
        t.rank === v.rank &&
        t.shape.every((d, i) => (i === axis ? d === kept(mask).length : d === v.shape[i]));
      if (same) assignments.push([v, t, null, axis]);
      else if (scattered) assignments.push([v, t, kept(mask), axis]);
      else problems.push(`${key}: shape [${t.shape}] in file, [${v.shape}] expected`);
    }
  }
  for (const k of tensors.keys()) if (!expected.has(k)) problems.push(`unexpected ${k}`);
  if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
  for (const [v, t, keep, axis] of assignments) {
    tf.tidy(() => {
      if (!keep) return void v.assign(tf.cast(t, v.dtype));
      // position i of the variable takes slice j when keep[j] = i, else a zero slice (index keep.length)
      const zeroShape = t.shape.map((d, i) => (i === axis ? 1 : d));
      const padded = tf.concat([tf.cast(t, v.dtype), tf.zeros(zeroShape, v.dtype)], axis);
      const index = Array.from({ length: v.shape[axis] }, (_, i) => {
        const j = keep.indexOf(i);
        return j < 0 ? keep.length : j;
      });
      v.assign(tf.gather(padded, tf.tensor1d(index, 'int32'), axis));
    });
  }
}
