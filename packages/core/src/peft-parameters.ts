import type * as tf from '@tensorflow/tfjs-core';
import type { Module } from './nn/module.js';
import type { AdapterRecord } from './method.js';
import type { ModulesToSave } from './modules-to-save.js';

/**
 * A PeftModel's parameters as PEFT names and counts them: the base model's, the frozen originals
 * of `modules_to_save`, then each adapter's, with the adapter name in the path.
 */

export interface ParameterCount {
  trainable: number;
  all: number;
}

/**
 * Every parameter: the base model's and each adapter's, with PEFT-style names (adapter
 * parameters carry the adapter name: `…q_proj.lora_A.default.weight`).
 */
export function peftNamedParameters(
  base: Module,
  modulesToSave: ModulesToSave,
  records: Iterable<AdapterRecord>,
): Array<[string, tf.Variable]> {
  // modules_to_save: PEFT lists the frozen original and each adapter's copy
  // (`classifier.original_module.weight`, `classifier.modules_to_save.default.weight`).
  const managed = modulesToSave.managedPaths();
  const under = (name: string) => managed.find((p) => name.startsWith(`${p}.`));
  const out: Array<[string, tf.Variable]> = base.namedParameters().filter(([n]) => !under(n));
  for (const [path, originals] of modulesToSave.originalTables()) {
    for (const [p, v] of originals) out.push([`${path}.original_module.${p}`, v]);
  }
  const seen = new Set(out.map(([, v]) => v));
  for (const r of records) {
    for (const h of r.hooks) {
      for (const [p, v] of h.params.namedParameters()) {
        if (seen.has(v)) continue;
        seen.add(v);
        const prefix = h.keyPrefix.startsWith(r.method.statePrefix) ? h.keyPrefix.slice(r.method.statePrefix.length) : h.keyPrefix;
        out.push([prefix + withAdapterName(p, r.name), v]);
      }
    }
    for (const [path, params] of r.savedModules) {
      for (const [p, v] of params) {
        if (seen.has(v)) continue;
        seen.add(v);
        out.push([`${path}.modules_to_save.${r.name}.${p}`, v]);
      }
    }
  }
  return out;
}

/** Trainable and total parameter counts, as PEFT counts them. */
export function countParameters(named: Iterable<[string, tf.Variable]>): ParameterCount {
  let trainable = 0;
  let all = 0;
  for (const [, v] of named) {
    all += v.size;
    if (v.trainable) trainable += v.size;
  }
  return { trainable, all };
}

/** PEFT's line: `trainable params: 8,192 || all params: 1,234,567 || trainable%: 0.6636`. */
export function trainableParametersLine({ trainable, all }: ParameterCount): string {
  const pct = all === 0 ? 0 : (100 * trainable) / all;
  return `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${pct.toFixed(4)}`;
}

/** `lora_A.weight` → `lora_A.default.weight`; a single name `x` → `x.default`. */
function withAdapterName(path: string, adapter: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? `${path}.${adapter}` : `${path.slice(0, dot)}.${adapter}${path.slice(dot)}`;
}
