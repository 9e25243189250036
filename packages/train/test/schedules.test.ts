import { describe, expect, it } from 'vitest';
import { learningRateAt, scheduleFactor } from '../src/index.js';

describe('learning-rate schedules (transformers formulas)', () => {
  it('warm up linearly from 0: step / warmup', () => {
    const f = scheduleFactor({ kind: 'linear', warmupSteps: 4, totalSteps: 10 });
    expect([0, 1, 2, 3].map(f)).toEqual([0, 0.25, 0.5, 0.75]);
  });

  it('linear decays from 1 at the end of warmup to 0 at totalSteps: (T − s) / (T − w)', () => {
    const f = scheduleFactor({ kind: 'linear', warmupSteps: 4, totalSteps: 10 });
    expect([4, 7, 10, 12].map(f)).toEqual([1, 0.5, 0, 0]);
  });

  it('cosine follows 0.5·(1 + cos(π·progress)) after warmup', () => {
    const f = scheduleFactor({ kind: 'cosine', warmupSteps: 2, totalSteps: 10 });
    expect(f(2)).toBeCloseTo(1, 12);
    expect(f(6)).toBeCloseTo(0.5, 12);
    expect(f(4)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.25)), 12);
    expect(f(10)).toBeCloseTo(0, 12);
  });

  it('constant stays at 1 after warmup', () => {
    const f = scheduleFactor({ kind: 'constant', warmupSteps: 2 });
    expect([0, 1, 2, 100].map(f)).toEqual([0, 0.5, 1, 1]);
    expect(learningRateAt(1e-3, { kind: 'constant' }, 5)).toBe(1e-3);
  });

  it('rejects a decaying schedule without totalSteps', () => {
    expect(() => scheduleFactor({ kind: 'cosine' })).toThrow(/needs totalSteps/);
  });
});
