import * as tf from '@tensorflow/tfjs-core';
import { LinearLike } from './nn/layers.js';
import { sameShape } from './nn/module.js';
import type { LinearHook, SiteSlot } from './sites.js';
import type { AdapterRecord } from './method.js';

/**
 * Merging one linear hook into its layer: the new weight (and bias) computed from the hook's
 * `deltaWeight`/`deltaBias` (additive methods) or `mergeWeight`/`mergeBias` (the others).
 */

export function linearOf(slot: SiteSlot): LinearLike {
  if (slot.owner instanceof LinearLike) return slot.owner;
  throw new Error(`Linear site ${slot.info.path} has no layer`);
}

export function mergedWeight(w: tf.Variable, hook: LinearHook, dir: 'merge' | 'unmerge', r: AdapterRecord, path: string): tf.Tensor {
  return tf.tidy(() => {
    if (hook.deltaWeight) {
      const delta = hook.deltaWeight();
      if (!sameShape(delta.shape, w.shape)) {
        throw new Error(`${r.method.meta.name} adapter "${r.name}" at ${path}: deltaWeight shape [${delta.shape}] != weight shape [${w.shape}]`);
      }
      return dir === 'merge' ? tf.add(w, delta) : tf.sub(w, delta);
    }
    const f = dir === 'merge' ? hook.mergeWeight : hook.unmergeWeight;
    if (!f) throw new Error(`${r.method.meta.name} adapter "${r.name}" at ${path} cannot be merged: its hook has no deltaWeight or mergeWeight`);
    const merged = f.call(hook, w);
    return merged === w ? tf.clone(w) : merged;
  });
}

/** The layer's merged (or unmerged) bias, or null when the hook leaves the bias alone. */
export function mergedBias(layer: LinearLike, hook: LinearHook, dir: 'merge' | 'unmerge', r: AdapterRecord, path: string): tf.Tensor | null {
  const f = dir === 'merge' ? hook.mergeBias : hook.unmergeBias;
  if (!hook.deltaBias && !f) return null;
  const out = tf.tidy(() => {
    const delta = hook.deltaBias?.();
    if (!delta && !f) return tf.scalar(0);
    if (!layer.bias) throw new Error(`${r.method.meta.name} adapter "${r.name}" at ${path}: merging a bias needs a layer with a bias`);
    if (delta) return dir === 'merge' ? tf.add(layer.bias, delta) : tf.sub(layer.bias, delta);
    return f!.call(hook, layer.bias);
  });
  if (out === layer.bias) return null; // the hook left the bias as it is
  if (out.rank === 0) {
    out.dispose();
    return null;
  }
  return out;
}

export function linearPathOf(r: AdapterRecord, v: tf.Variable): string {
  for (const h of r.hooks) {
    const layer = h.slot.owner as LinearLike | undefined;
    if (layer?.weight === v) return `${h.slot.info.path}.weight`;
    if (layer?.bias === v) return `${h.slot.info.path}.bias`;
  }
  return 'a merged weight';
}

export function isAllFinite(t: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
}
