import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@peftjs/core';
import {
  Trainer,
  batchSizeAdvice,
  changedFrozen,
  diagnoseRun,
  frozenFingerprint,
  gradientFlow,
  lossTrend,
  scaledLearningRate,
  type EncodedExample,
  type LossPoint,
} from '../src/index.js';
import { TinyLM, textExamples, withLora } from './helpers.js';

afterEach(() => tf.disposeVariables());

/** loss(step) with ±3% multiplicative noise, sampled at `every` steps up to `steps`. */
function curve(f: (s: number) => number, steps: number, every = 1, seed = 1): LossPoint[] {
  const rng = new Rng(seed);
  const out: LossPoint[] = [];
  for (let s = every; s <= steps; s += every) out.push({ step: s, loss: f(s) * (1 + 0.03 * (2 * rng.next() - 1)) });
  return out;
}
const falling = (s: number) => 2 * Math.exp(-s / 200) + 0.5;
const flat = () => 1.2;
const rising = (s: number) => 1 + s / 150;

describe('loss trends', () => {
  it('a robust slope of log-loss reads a noisy falling curve as falling and reports the numbers', () => {
    const t = lossTrend(curve(falling, 100))!;
    expect(t.trend).toBe('falling');
    expect(t.points).toBe(100);
    expect(t.relativeChange).toBeCloseTo(Math.log(falling(100) / falling(1)), 1);
    expect(t.meanLoss).toBeGreaterThan(1.9);
  });

  it('is not moved by a single spike', () => {
    const pts = curve(flat, 50);
    pts[25] = { step: 26, loss: 50 };
    expect(lossTrend(pts)!.trend).toBe('flat');
  });

  it('returns null below three points', () => {
    expect(
      lossTrend([
        { step: 1, loss: 1 },
        { step: 2, loss: 0.5 },
      ]),
    ).toBeNull();
  });
});

describe('diagnoseRun cases', () => {
  const v = (f: (s: number) => number) => curve(f, 100, 10, 2);
  it('both falling: healthy', () => {
    expect(diagnoseRun(curve(falling, 100), v(falling)).case).toBe('healthy');
  });

  it('train falling while validation is flat or rising: overfitting, suggesting dropout, lower r, fewer modules, more data, early stopping', () => {
    const flatVal = diagnoseRun(curve(falling, 100), v(flat));
    expect(flatVal.case).toBe('overfitting');
    expect(diagnoseRun(curve(falling, 100), v(rising)).case).toBe('overfitting');
    expect(flatVal.suggestions.join('; ')).toMatch(/dropout.*lower r.*fewer modules.*more.*data.*early stopping/);
  });

  it('train flat while validation falls: suspect the data split', () => {
    const d = diagnoseRun(curve(flat, 100), v(falling));
    expect(d.case).toBe('suspect-split');
    expect(d.summary).toMatch(/leakage/);
  });

  it('both flat: plateau, suggesting a lower learning rate or batch size', () => {
    const d = diagnoseRun(curve(flat, 100), v(flat));
    expect(d.case).toBe('plateau');
    expect(d.suggestions).toEqual(expect.arrayContaining(['lower the learning rate', 'lower the batch size']));
  });

  it('both rising: a learning-rate or configuration problem', () => {
    const d = diagnoseRun(curve(rising, 100), v(rising));
    expect(d.case).toBe('diverging');
    expect(d.summary).toMatch(/learning-rate or configuration problem/);
  });

  it('states the slopes it used in the summary', () => {
    const d = diagnoseRun(curve(falling, 100), v(flat));
    expect(d.summary).toMatch(/loss falling \(-\d+\.\d% over 50 points, mean \d\.\d{4}\); val_loss flat \(-?\d\.\d% over 10 points/);
    expect(d.train!.slopePerStep).toBeLessThan(0);
  });

  it('classifies a real run that overfits on purpose (4 examples, 150 steps, r 16) as overfitting', async () => {
    const random = (n: number, seed: number): EncodedExample[] => {
      const rng = new Rng(seed);
      return Array.from({ length: n }, () => {
        const ids = Array.from({ length: 12 }, () => 3 + rng.int(12));
        return { inputIds: ids, labels: [...ids] };
      });
    };
    const model = withLora(new TinyLM(40, 32, 1, 16), { r: 16, alpha: 32, targets: ['q_proj', 'v_proj', 'lm_head'] });
    const t = new Trainer({
      model,
      trainData: random(4, 1),
      evalData: random(8, 2),
      batchSize: 4,
      learningRate: 1e-3,
      maxSteps: 150,
      evalEvery: 10,
      schedule: 'constant',
    });
    const r = await t.train();
    expect(r.diagnosis.case).toBe('overfitting');
    expect(r.diagnosis.train!.trend).toBe('falling');
    expect(r.diagnosis.validation!.trend).toBe('rising');
    t.dispose();
  });
});

describe('advice', () => {
  it('raising the batch k-fold scales the learning rate by √k for Adam and k for SGD', () => {
    expect(scaledLearningRate(1e-4, 8, 32, 'adamw')).toBeCloseTo(2e-4, 12);
    expect(scaledLearningRate(0.1, 8, 32, 'sgd')).toBeCloseTo(0.4, 12);
    expect(batchSizeAdvice(1e-4, 8, 32, 'adamw')).toBe(
      'Batch 8 → 32 (raised 4-fold): learning rate 0.0001 → 0.000200 ×√4 (square-root scaling for Adam).',
    );
  });
});

describe('gradient flow', () => {
  it('finds non-zero adapter gradients and no gradients on the frozen base', async () => {
    const model = withLora(new TinyLM());
    let report: ReturnType<typeof gradientFlow> | undefined;
    const t = new Trainer({
      model,
      trainData: textExamples(4),
      batchSize: 4,
      maxSteps: 1,
      hooks: { onGradients: (g) => (report = gradientFlow(model, g)) },
    });
    const before = frozenFingerprint(model);
    await t.train();
    expect(report!.ok).toBe(true);
    expect(report!.norms.size).toBe(4);
    expect([...report!.norms.values()].every((n) => n > 0)).toBe(true);
    expect(report!.baseWithGradients).toEqual([]);
    expect(changedFrozen(before, frozenFingerprint(model))).toEqual([]);
    t.dispose();
  });

  it('reports zero adapter gradients and gradients on frozen parameters', () => {
    const model = withLora(new TinyLM());
    const names = model.trainableParameters().map(([n]) => n);
    const grads = new Map<string, tf.Tensor>(names.map((n) => [n, tf.zeros([2])]));
    grads.set('lm_head.weight', tf.ones([2]));
    const r = gradientFlow(model, grads);
    expect(r.ok).toBe(false);
    expect(r.baseWithGradients).toEqual(['lm_head.weight']);
    expect(r.messages.join(' ')).toMatch(
      /No adapter parameter has a non-zero gradient.*Frozen parameters received gradients: lm_head.weight/,
    );
    tf.dispose([...grads.values()]);
  });

  it('notices a frozen weight that changed', () => {
    const model = withLora(new TinyLM());
    const before = frozenFingerprint(model);
    const w = model.base.namedParameters().find(([n]) => n === 'q_proj.weight')![1];
    tf.tidy(() => w.assign(tf.add(w, 1)));
    expect(changedFrozen(before, frozenFingerprint(model))).toEqual(['q_proj.weight']);
  });
});
