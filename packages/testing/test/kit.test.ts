import { describe, expect, it } from 'vitest';
import { CONFORMANCE_CHECKS, runConformanceCheck, skipReason, type ConformanceSpec } from '../src/index.js';
import { toyPrompt, toyRankOne } from './toy-methods.js';

const rankOne = (defect: string): ConformanceSpec => ({
  method: toyRankOne,
  cases: [{ model: 'mlp', config: { target_modules: ['lin0', 'lin1'], defect } }],
});

describe('the conformance kit', () => {
  it('passes every check on a correct method', async () => {
    const spec = rankOne('none');
    for (const check of CONFORMANCE_CHECKS.filter((c) => !skipReason(spec, spec.cases[0], c))) {
      await runConformanceCheck(spec, spec.cases[0], check);
    }
  });

  it('catches a hook that leaves a tensor behind on every forward pass', async () => {
    const spec = rankOne('leaks-a-tensor');
    await expect(runConformanceCheck(spec, spec.cases[0], 'memory-forward')).rejects.toThrow(/expected \d+ to be \d+/);
    await expect(runConformanceCheck(spec, spec.cases[0], 'memory-training')).rejects.toThrow(/expected \d+ to be \d+/);
  });

  it('catches a deltaWeight that does not match the forward pass', async () => {
    const spec = rankOne('wrong-delta');
    await expect(runConformanceCheck(spec, spec.cases[0], 'merge-same-output')).rejects.toThrow(/to be less than or equal to 0.0001/);
  });

  it('catches a method that leaves a base weight trainable, naming it', async () => {
    const spec = rankOne('trains-the-base');
    await expect(runConformanceCheck(spec, spec.cases[0], 'trainable-only-adapter')).rejects.toThrow(/lin0\.weight/);
    await expect(runConformanceCheck(spec, spec.cases[0], 'base-frozen')).rejects.toThrow(/expected [\d.]+ to be \+0/);
  });

  it('skips merging for a method that is not mergeable and checks that merge() refuses instead', () => {
    const spec: ConformanceSpec = { method: toyPrompt, cases: [{ model: 'emb-conv1d', config: {} }] };
    const reasons = Object.fromEntries(CONFORMANCE_CHECKS.map((c) => [c.id, skipReason(spec, spec.cases[0], c)]));
    expect(reasons['merge-same-output']).toBe('merge is off');
    expect(reasons['merge-refused']).toBe(null);
  });

  it('lets one case turn a group off, with the group named as the reason', () => {
    const spec: ConformanceSpec = { method: toyRankOne, cases: [{ model: 'mlp', config: {}, applies: { multipleAdapters: false } }] };
    const reasons = Object.fromEntries(CONFORMANCE_CHECKS.map((c) => [c.id, skipReason(spec, spec.cases[0], c)]));
    expect(reasons['switch-adapters']).toBe('multipleAdapters is off');
    expect(reasons['mixed-batch']).toBe('multipleAdapters is off');
    expect(reasons['merge-refused']).toBe('ToyRankOne is mergeable');
    expect(reasons['save-load-output']).toBe(null);
  });

  it('names every check by a unique id', () => {
    const ids = CONFORMANCE_CHECKS.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
