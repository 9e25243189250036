import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { ADAPTER_CONFIG_NAME, BASE_ADAPTER, adapterStateDict, loadAdapter, saveAdapter } from '@peftjs/core';
import { TrainLoop, adapterVariables, maxAbsDiff, maxDiffFromSnapshot, snapshot, withTmpDir } from '../helpers.js';
import type { ConformanceFixture } from './fixture.js';
import type { ConformanceGroup } from './spec.js';
import { MERGE_CHECKS } from './merge-checks.js';

/** One check of the kit: a behaviour every method must have, run on a fresh fixture. */
export interface ConformanceCheck {
  id: string;
  /** The behaviour, as a sentence (the test's name). */
  title: string;
  /** The group that turns it off; 'always' cannot be turned off, 'notMergeable' runs when the method declares itself not mergeable. */
  group: ConformanceGroup | 'always' | 'notMergeable';
  run(fx: ConformanceFixture): void | Promise<void>;
}

const size = (vars: Iterable<tf.Variable>) => [...vars].reduce((n, v) => n + v.size, 0);

function keysSortedDeep(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysSortedDeep(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  const keys = Object.keys(value);
  const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const here = keys.join() === sorted.join() ? [] : [`${path}: ${keys.join(', ')}`];
  return [...here, ...keys.flatMap((k) => keysSortedDeep((value as Record<string, unknown>)[k], `${path}.${k}`))];
}

/** Adds the adapter "other" and trains both on different data; returns the output of each. */
function twoTrainedAdapters(fx: ConformanceFixture): { mine: tf.Tensor; other: tf.Tensor } {
  fx.addAdapter('other');
  fx.train('other', 12);
  const other = fx.logits();
  fx.train('default', 11);
  const mine = fx.logits();
  return { mine, other };
}

export const CONFORMANCE_CHECKS: readonly ConformanceCheck[] = [
  // ---- parameters ------------------------------------------------------------------------
  {
    id: 'trainable-only-adapter',
    title: "only the adapter's parameters are trainable and the base model's are frozen",
    group: 'always',
    run(fx) {
      const owned = adapterVariables(fx.adapter());
      const trainable = fx.peft.trainableParameters();
      expect(trainable.length).toBeGreaterThan(0);
      expect(trainable.filter(([, v]) => !owned.has(v)).map(([n]) => n)).toEqual([]);
      expect(
        fx
          .frozenBaseVariables()
          .filter(([, v]) => v.trainable)
          .map(([n]) => n),
      ).toEqual([]);
    },
  },
  {
    id: 'parameter-count',
    title: 'countParameters() counts the trainable variables and every base and adapter parameter',
    group: 'always',
    run(fx) {
      const record = fx.adapter();
      const owned = adapterVariables(record);
      const counted = fx.peft.countParameters();
      expect(counted.trainable).toBe(size(fx.peft.trainableParameters().map(([, v]) => v)));
      expect(counted.trainable).toBe(size(owned));
      if (fx.testCase.trainableParams !== undefined) expect(counted.trainable).toBe(fx.testCase.trainableParams);
      const baseVars = new Set(fx.baseVariables.map(([, v]) => v));
      expect(counted.all).toBe(size(baseVars) + size([...owned].filter((v) => !baseVars.has(v))));
    },
  },
  {
    id: 'print-trainable',
    title: "printTrainableParameters() prints PEFT's line with the counted numbers",
    group: 'always',
    run(fx) {
      const lines: string[] = [];
      const returned = fx.peft.printTrainableParameters((l) => lines.push(l));
      const { trainable, all } = fx.peft.countParameters();
      const fmt = (n: number) => n.toLocaleString('en-US');
      const expected = `trainable params: ${fmt(trainable)} || all params: ${fmt(all)} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
      expect(lines).toEqual([expected]);
      expect(returned).toBe(expected);
      expect(expected).toMatch(/^trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}$/);
    },
  },
  // ---- training --------------------------------------------------------------------------
  {
    id: 'base-frozen',
    title: 'training leaves the base weights unchanged',
    group: 'always',
    run(fx) {
      const frozen = fx.frozenBaseVariables();
      const before = snapshot(frozen);
      fx.train();
      expect(maxDiffFromSnapshot(before, frozen)).toBe(0);
    },
  },
  {
    id: 'output-changes',
    title: 'training changes the output',
    group: 'always',
    run(fx) {
      const before = fx.logits();
      fx.train();
      expect(maxAbsDiff(fx.logits(), before)).toBeGreaterThan(fx.tolerances.trained);
    },
  },
  {
    id: 'memory-training',
    title: 'tf.memory().numTensors does not grow from training step 1 to step 20',
    group: 'memory',
    run(fx) {
      const batch = fx.trainBatch(7, true);
      const loop = new TrainLoop(fx.peft, batch, fx.spec.train);
      try {
        loop.step();
        const afterFirst = tf.memory().numTensors;
        for (let i = 1; i < 20; i++) loop.step();
        expect(tf.memory().numTensors).toBe(afterFirst);
      } finally {
        loop.dispose();
      }
    },
  },
  {
    id: 'memory-forward',
    title: 'a forward pass leaves no tensor behind',
    group: 'memory',
    run(fx) {
      fx.logits().dispose();
      const before = tf.memory().numTensors;
      const out = fx.peft.forward(fx.inputs);
      tf.dispose([out.logits, out.loss ?? []].flat());
      expect(tf.memory().numTensors).toBe(before);
    },
  },
  // ---- merging (merge-checks.ts) ---------------------------------------------------------
  ...MERGE_CHECKS,
  // ---- files -----------------------------------------------------------------------------
  {
    id: 'save-load-output',
    title: 'an adapter saved and loaded into a fresh model gives the identical output',
    group: 'saveLoad',
    async run(fx) {
      fx.train();
      const fresh = fx.freshPeft();
      await withTmpDir(async (dir) => {
        await saveAdapter(fx.peft, dir);
        await loadAdapter(fresh, dir);
      });
      expect(maxAbsDiff(fx.logits(undefined, fresh), fx.logits())).toBe(0);
    },
  },
  {
    id: 'save-load-tensors',
    title: 'an adapter saved and loaded has identical tensors under the same names',
    group: 'saveLoad',
    async run(fx) {
      fx.train();
      const fresh = fx.freshPeft();
      await withTmpDir(async (dir) => {
        await saveAdapter(fx.peft, dir);
        await loadAdapter(fresh, dir);
      });
      const saved = adapterStateDict(fx.adapter());
      const loaded = adapterStateDict(fresh.adapter('default'));
      expect([...loaded.keys()].sort()).toEqual([...saved.keys()].sort());
      expect(saved.size).toBeGreaterThan(0);
      for (const [name, t] of saved) {
        expect(loaded.get(name)!.shape, name).toEqual(t.shape);
        expect(maxAbsDiff(loaded.get(name)!, t), name).toBe(0);
      }
    },
  },
  {
    id: 'load-frozen',
    title: 'a loaded adapter is frozen for inference by default',
    group: 'saveLoad',
    async run(fx) {
      const fresh = fx.freshPeft();
      await withTmpDir(async (dir) => {
        await saveAdapter(fx.peft, dir);
        await loadAdapter(fresh, dir);
      });
      expect(fresh.trainableParameters().map(([n]) => n)).toEqual([]);
      expect(fresh.countParameters().trainable).toBe(0);
    },
  },
  {
    id: 'saved-config',
    title: "the written adapter_config.json has sorted keys, inference_mode true and the method's peft_type",
    group: 'saveLoad',
    async run(fx) {
      const { readFile } = await import('node:fs/promises');
      const text = await withTmpDir(async (dir) => {
        await saveAdapter(fx.peft, dir);
        return readFile(`${dir}/${ADAPTER_CONFIG_NAME}`, 'utf8');
      });
      const json = JSON.parse(text) as Record<string, unknown>;
      expect(keysSortedDeep(json)).toEqual([]);
      expect(json.inference_mode).toBe(true);
      expect(json.peft_type).toBe(fx.method.type);
      expect(fx.peft.config('default').inference_mode).not.toBe(true);
    },
  },
  // ---- disabling -------------------------------------------------------------------------
  {
    id: 'disable-base-output',
    title: "disableAdapter gives exactly the base model's output",
    group: 'disable',
    run(fx) {
      fx.train();
      const disabled = fx.track(fx.peft.disableAdapter(() => fx.logits()));
      expect(maxAbsDiff(disabled, fx.baseLogits)).toBe(0);
    },
  },
  {
    id: 'disable-restores-after-throw',
    title: 'disableAdapter restores the adapter when the callback throws',
    group: 'disable',
    run(fx) {
      fx.train();
      const adapted = fx.logits();
      expect(() =>
        fx.peft.disableAdapter(() => {
          throw new Error('callback failed');
        }),
      ).toThrow('callback failed');
      expect(fx.peft.control.disabled).toBe(false);
      expect(maxAbsDiff(fx.logits(), adapted)).toBe(0);
    },
  },
  {
    id: 'disable-restores-after-reject',
    title: "disableAdapter restores the adapter when the callback's promise rejects",
    group: 'disable',
    async run(fx) {
      fx.train();
      const adapted = fx.logits();
      await expect(fx.peft.disableAdapter(async () => Promise.reject(new Error('callback rejected')))).rejects.toThrow('callback rejected');
      expect(fx.peft.control.disabled).toBe(false);
      expect(maxAbsDiff(fx.logits(), adapted)).toBe(0);
    },
  },
  // ---- several adapters ------------------------------------------------------------------
  {
    id: 'switch-adapters',
    title: 'two adapters give different outputs and switching between them reproduces each',
    group: 'multipleAdapters',
    run(fx) {
      const { mine, other } = twoTrainedAdapters(fx);
      expect(maxAbsDiff(mine, other)).toBeGreaterThan(fx.tolerances.trained);
      fx.peft.setAdapter('other');
      expect(maxAbsDiff(fx.logits(), other)).toBe(0);
      fx.peft.setAdapter('default');
      expect(maxAbsDiff(fx.logits(), mine)).toBe(0);
    },
  },
  {
    id: 'only-active-trainable',
    title: "only the active adapter's parameters are trainable",
    group: 'multipleAdapters',
    run(fx) {
      fx.addAdapter('other');
      for (const [active, inactive] of [
        ['default', 'other'],
        ['other', 'default'],
      ] as const) {
        fx.peft.setAdapter(active);
        const owned = adapterVariables(fx.adapter(active));
        const trainable = fx.peft.trainableParameters();
        expect(trainable.filter(([, v]) => !owned.has(v)).map(([n]) => n)).toEqual([]);
        expect(size(trainable.map(([, v]) => v))).toBe(size(owned));
        expect([...adapterVariables(fx.adapter(inactive))].filter((v) => v.trainable && !owned.has(v)).length).toBe(0);
      }
    },
  },
  {
    id: 'delete-adapter',
    title: 'deleting an adapter disposes its parameters and the remaining adapter still works',
    group: 'multipleAdapters',
    run(fx) {
      const { mine } = twoTrainedAdapters(fx);
      const otherVars = [...adapterVariables(fx.adapter('other'))].filter((v) => !fx.baseVariables.some(([, b]) => b === v));
      fx.peft.deleteAdapter('other');
      expect(fx.peft.adapterNames).toEqual(['default']);
      expect(otherVars.filter((v) => !v.isDisposed).length).toBe(0);
      const listed = new Set(fx.peft.namedParameters().map(([, v]) => v));
      expect(otherVars.filter((v) => listed.has(v)).length).toBe(0);
      expect(maxAbsDiff(fx.logits(), mine)).toBe(0);
    },
  },
  {
    id: 'mixed-batch',
    title: 'a mixed batch gives each row the output of its own adapter, __base__ the base output',
    group: 'mixedBatch',
    run(fx) {
      const { mine, other } = twoTrainedAdapters(fx);
      const batch = fx.baseLogits.shape[0];
      const names = Array.from({ length: batch }, (_, i) => ['default', BASE_ADAPTER, 'other'][i % 3]);
      const mixed = fx.logits({ adapterNames: names });
      const byName: Record<string, tf.Tensor> = { default: mine, other, [BASE_ADAPTER]: fx.baseLogits };
      const expected = fx.track(
        tf.tidy(() =>
          tf.concat(
            names.map((n, i) => tf.slice(byName[n], i, 1)),
            0,
          ),
        ),
      );
      expect(maxAbsDiff(mixed, expected)).toBeLessThanOrEqual(fx.tolerances.rows);
    },
  },
  {
    id: 'mixed-batch-keeps-active',
    title: 'a mixed batch leaves the active adapter and its output as they were',
    group: 'mixedBatch',
    run(fx) {
      const { mine } = twoTrainedAdapters(fx);
      const batch = fx.baseLogits.shape[0];
      fx.logits({ adapterNames: Array.from({ length: batch }, (_, i) => (i % 2 ? 'other' : BASE_ADAPTER)) });
      expect(fx.peft.activeAdapters).toEqual(['default']);
      expect(fx.peft.control.disabled).toBe(false);
      expect(maxAbsDiff(fx.logits(), mine)).toBe(0);
    },
  },
];
