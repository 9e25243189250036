/**
 * Learning-rate schedules as transformers writes them (`get_*_schedule_with_warmup`): a
 * multiplier of the base rate as a function of the number of optimizer steps taken so far, so
 * the first update uses `lr · factor(0)` (0 with warmup, as in transformers).
 */
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface ScheduleOptions {
  kind?: ScheduleKind;
  /** Steps of linear warmup from 0. Default 0. */
  warmupSteps?: number;
  /** Total optimizer steps (linear and cosine decay to 0 there). */
  totalSteps?: number;
  /** Cosine only: number of cosine waves. Default 0.5 (one half-wave down to 0). */
  numCycles?: number;
}

export type LearningRateSchedule = (step: number) => number;

/** The multiplier of the base learning rate after `step` optimizer steps. */
export function scheduleFactor(opts: ScheduleOptions = {}): LearningRateSchedule {
  const kind = opts.kind ?? 'constant';
  const warmup = opts.warmupSteps ?? 0;
  const total = opts.totalSteps;
  const cycles = opts.numCycles ?? 0.5;
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`warmupSteps must be a non-negative integer, got ${warmup}`);
  if (kind !== 'constant' && (total === undefined || !Number.isInteger(total) || total <= 0)) {
    throw new Error(`A ${kind} schedule needs totalSteps, a positive integer; got ${total}`);
  }
  if (!['constant', 'linear', 'cosine'].includes(kind)) throw new Error(`Unknown schedule "${kind}": use constant, linear or cosine`);
  return (step: number) => {
    if (step < warmup) return step / Math.max(1, warmup);
    if (kind === 'constant') return 1;
    const T = total!;
    if (kind === 'linear') return Math.max(0, (T - step) / Math.max(1, T - warmup));
    const progress = (step - warmup) / Math.max(1, T - warmup);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
  };
}

/** The learning rate after `step` optimizer steps: `lr · scheduleFactor(opts)(step)`. */
export function learningRateAt(lr: number, opts: ScheduleOptions, step: number): number {
  return lr * scheduleFactor(opts)(step);
}
