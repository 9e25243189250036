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
        throw new Error(
          `${r.method.meta.name} adapter "${r.name}" at ${path}: deltaWeight shape [${delta.shape}] != weight shape [${w.shape}]`,
        );
      }
      return dir === 'merge' ? tf.add(w, delta) : tf.sub(w, delta);
    }
    const f = dir === 'merge' ? hook.mergeWeight : hook.unmergeWeight;
    if (!f)
      throw new Error(`${r.method.meta.name} adapter "${r.name}" at ${path} cannot be merged: its hook has no deltaWeight or mergeWeight`);
    const merged = f.call(hook, w);
    return merged === w ? tf.clone(w) : merged;
  });
}

/** The layer's merged (or unmerged) bias, or null when the hook leaves the bias alone. */
export function mergedBias(
  layer: LinearLike,
  hook: LinearHook,
  dir: 'merge' | 'unmerge',
  r: AdapterRecord,
  path: string,
): tf.Tensor | null {
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

/** Whether `t` holds no NaN or ±Inf (a synchronous read: cpu, wasm, a page's main thread). */
export function isAllFinite(t: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
}

/** `isAllFinite` read with `await data()`: works on every backend (WebGPU in Node or a worker too). */
export async function isAllFiniteAsync(t: tf.Tensor): Promise<boolean> {
  const all = tf.tidy(() => tf.all(tf.isFinite(t)));
  try {
    return (await all.data())[0] === 1;
  } finally {
    all.dispose();
  }
}

/** The merged weights (and biases) of every linear hook of an adapter, not yet assigned. */
function mergedUpdates(r: AdapterRecord): Array<[tf.Variable, tf.Tensor]> {
  const updates: Array<[tf.Variable, tf.Tensor]> = [];
  try {
    for (const h of r.hooks) {
      if (h.kind !== 'linear') continue;
      const layer = linearOf(h.slot);
      const hook = h.hook as LinearHook;
      const path = h.slot.info.path;
      updates.push([layer.weight, mergedWeight(layer.weight, hook, 'merge', r, path)]);
      const bias = mergedBias(layer, hook, 'merge', r, path);
      if (bias) updates.push([layer.bias!, bias]);
    }
  } catch (e) {
    for (const [, t] of updates) t.dispose();
    throw e;
  }
  return updates;
}

/** Assigns the updates when `finite` (the safe merge's verdict) names no weight; else disposes them and throws. */
function applyUpdates(r: AdapterRecord, updates: Array<[tf.Variable, tf.Tensor]>, finite: boolean[] | null): void {
  const bad = finite ? updates.findIndex((_, i) => !finite[i]) : -1;
  if (bad >= 0) {
    for (const [, t] of updates) t.dispose();
    throw new Error(`Safe merge of adapter "${r.name}" refused: non-finite values in ${linearPathOf(r, updates[bad]![0])}`);
  }
  for (const [v, t] of updates) {
    v.assign(t);
    t.dispose();
  }
}

/**
 * Merges every linear hook of an adapter into its layer's weights. With `safe`, the merged
 * weights are checked for NaN/Inf first (a synchronous read) and nothing changes if any is found.
 */
export function mergeAdapter(r: AdapterRecord, opts: { safe?: boolean } = {}): void {
  const updates = mergedUpdates(r);
  applyUpdates(r, updates, opts.safe ? updates.map(([, t]) => isAllFinite(t)) : null);
}

/** `mergeAdapter` whose safe check reads with `await data()` (WebGPU in Node or a worker has no synchronous read). */
export async function mergeAdapterAsync(r: AdapterRecord, opts: { safe?: boolean } = {}): Promise<void> {
  const updates = mergedUpdates(r);
  let finite: boolean[] | null = null;
  try {
    if (opts.safe) finite = await Promise.all(updates.map(([, t]) => isAllFiniteAsync(t)));
  } catch (e) {
    for (const [, t] of updates) t.dispose();
    throw e;
  }
  applyUpdates(r, updates, finite);
}

/** Reverses `mergeAdapter`, last hook first. */
export function unmergeAdapter(r: AdapterRecord): void {
  for (const h of [...r.hooks].reverse()) {
    if (h.kind !== 'linear') continue;
    const layer = linearOf(h.slot);
    const hook = h.hook as LinearHook;
    const w = mergedWeight(layer.weight, hook, 'unmerge', r, h.slot.info.path);
    const b = mergedBias(layer, hook, 'unmerge', r, h.slot.info.path);
    layer.weight.assign(w);
    w.dispose();
    if (b) {
      layer.bias!.assign(b);
      b.dispose();
    }
  }
}
