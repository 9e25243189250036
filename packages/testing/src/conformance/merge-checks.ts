import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { maxAbsDiff, maxDiffFromSnapshot, snapshot } from '../helpers.js';
import type { ConformanceCheck } from './checks.js';
import type { ConformanceFixture } from './fixture.js';

/** The parameters of the adapter's first linear hook: where the safe-merge check puts its NaNs. */
function firstLinearParameters(fx: ConformanceFixture): Array<[string, tf.Variable]> {
  const hook = fx.adapter().hooks.find((h) => h.kind === 'linear');
  const params = hook?.params.namedParameters() ?? [];
  if (params.length === 0) throw new Error(`${fx.method.meta.name} is mergeable but its adapter has no linear hook with a parameter`);
  return params.map(([name, v]) => [`${hook!.slot.info.path}.${name}`, v]);
}

function assignValues(v: tf.Variable, values: Float32Array): void {
  const t = tf.tensor(values, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}

/** The kit's merging checks: merge, unmerge, safe merge (sync and async), merge while disabled, refusals. */
export const MERGE_CHECKS: readonly ConformanceCheck[] = [
  {
    id: 'merge-same-output',
    title: 'merging the adapter into the base weights gives the unmerged output',
    group: 'merge',
    run(fx) {
      fx.train();
      const unmerged = fx.logits();
      fx.peft.merge();
      expect(fx.peft.mergedAdapters).toEqual(['default']);
      expect(maxAbsDiff(fx.logits(), unmerged)).toBeLessThanOrEqual(fx.tolerances.merge);
    },
  },
  {
    id: 'unmerge-restores',
    title: 'unmerging restores the base weights',
    group: 'merge',
    run(fx) {
      fx.train();
      const before = snapshot(fx.baseVariables);
      fx.peft.merge();
      expect(maxDiffFromSnapshot(before, fx.baseVariables)).toBeGreaterThan(0);
      fx.peft.unmerge();
      expect(fx.peft.mergedAdapters).toEqual([]);
      expect(maxDiffFromSnapshot(before, fx.baseVariables)).toBeLessThanOrEqual(fx.tolerances.unmerge);
    },
  },
  {
    id: 'safe-merge-refuses-nan',
    title: 'safeMerge refuses an adapter holding a NaN in any of its parameters and leaves the weights unchanged',
    group: 'merge',
    run(fx) {
      fx.train();
      const before = snapshot(fx.baseVariables);
      const accepted: string[] = [];
      for (const [name, param] of firstLinearParameters(fx)) {
        const good = Float32Array.from(param.dataSync() as ArrayLike<number>);
        const bad = Float32Array.from(good);
        bad[0] = NaN;
        assignValues(param, bad);
        try {
          fx.peft.safeMerge();
          accepted.push(name);
          fx.peft.unmerge();
        } catch (e) {
          expect((e as Error).message, name).toMatch(/"default"/);
        }
        assignValues(param, good);
      }
      expect(accepted).toEqual([]);
      expect(fx.peft.mergedAdapters).toEqual([]);
      expect(maxDiffFromSnapshot(before, fx.baseVariables)).toBe(0);
    },
  },
  {
    id: 'safe-merge-async',
    title: 'safeMergeAsync (reads with await data(), for WebGPU) merges like merge and refuses a NaN, leaving the weights unchanged',
    group: 'merge',
    async run(fx) {
      fx.train();
      const unmerged = fx.logits();
      let tensors = tf.memory().numTensors;
      await fx.peft.safeMergeAsync();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(fx.peft.mergedAdapters).toEqual(['default']);
      expect(maxAbsDiff(fx.logits(), unmerged)).toBeLessThanOrEqual(fx.tolerances.merge);
      fx.peft.unmerge();
      const before = snapshot(fx.baseVariables);
      tensors = tf.memory().numTensors;
      const [name, param] = firstLinearParameters(fx)[0]!;
      const good = Float32Array.from(param.dataSync() as ArrayLike<number>);
      const bad = Float32Array.from(good);
      bad[0] = NaN;
      assignValues(param, bad);
      await expect(fx.peft.safeMergeAsync(), name).rejects.toThrow(/Safe merge of adapter "default" refused/);
      assignValues(param, good);
      expect(fx.peft.mergedAdapters).toEqual([]);
      expect(maxDiffFromSnapshot(before, fx.baseVariables)).toBe(0);
      expect(tf.memory().numTensors).toBe(tensors);
    },
  },
  {
    id: 'disable-while-merged',
    title: 'disabling a merged adapter gives the base output and merges it back after',
    group: 'merge',
    run(fx) {
      fx.train();
      fx.peft.merge();
      const merged = fx.logits();
      const disabled = fx.track(fx.peft.disableAdapter(() => fx.logits()));
      expect(maxAbsDiff(disabled, fx.baseLogits)).toBeLessThanOrEqual(fx.tolerances.rows);
      expect(fx.peft.mergedAdapters).toEqual(['default']);
      expect(maxAbsDiff(fx.logits(), merged)).toBeLessThanOrEqual(fx.tolerances.rows);
    },
  },
  {
    id: 'merge-refused',
    title: 'merge() throws a message naming the method and changes nothing',
    group: 'notMergeable',
    run(fx) {
      fx.train();
      const before = fx.logits();
      const weights = snapshot(fx.baseVariables);
      expect(() => fx.peft.merge()).toThrow(fx.method.meta.name);
      expect(fx.peft.mergedAdapters).toEqual([]);
      expect(maxDiffFromSnapshot(weights, fx.baseVariables)).toBe(0);
      expect(maxAbsDiff(fx.logits(), before)).toBe(0);
    },
  },
];
