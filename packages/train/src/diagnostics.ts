import * as tf from '@tensorflow/tfjs-core';
import type { PeftModel } from '@peftjs/core';

/** A point of a loss curve. */
export interface LossPoint {
  step: number;
  loss: number;
}

export type Trend = 'falling' | 'flat' | 'rising';

export interface TrendStats {
  trend: Trend;
  /** Theil–Sen slope of ln(loss) per step. */
  slopePerStep: number;
  /** Fitted relative change over the window: slope · (last step − first step), ≈ Δloss / loss. */
  relativeChange: number;
  meanLoss: number;
  points: number;
}

export type RunCase = 'healthy' | 'overfitting' | 'suspect-split' | 'plateau' | 'diverging' | 'unclear' | 'too-short';

export interface RunDiagnosis {
  case: RunCase;
  summary: string;
  suggestions: string[];
  train: TrendStats | null;
  validation: TrendStats | null;
}

export interface TrendOptions {
  /** Points of each curve used (the last ones). Default 50 for training, 10 for validation. */
  trainWindow?: number;
  valWindow?: number;
  /** |relative change| below this over the window is flat. Default 0.02 (2%). */
  flatThreshold?: number;
}

/**
 * The trend of a loss curve: the Theil–Sen (median pairwise) slope of ln(loss) against the step,
 * robust to the noise of per-step losses, scaled to the window's span. Null below 3 points.
 */
export function lossTrend(points: readonly LossPoint[], flatThreshold = 0.02): TrendStats | null {
  const pts = points.filter((p) => Number.isFinite(p.loss) && p.loss > 0);
  if (pts.length < 3) return null;
  const slopes: number[] = [];
  for (let i = 0; i < pts.length; i++) {
    for (let j = i + 1; j < pts.length; j++) {
      const dx = pts[j].step - pts[i].step;
      if (dx !== 0) slopes.push((Math.log(pts[j].loss) - Math.log(pts[i].loss)) / dx);
    }
  }
  if (slopes.length === 0) return null;
  slopes.sort((a, b) => a - b);
  const mid = slopes.length >> 1;
  const slope = slopes.length % 2 ? slopes[mid] : (slopes[mid - 1] + slopes[mid]) / 2;
  const relativeChange = slope * (pts[pts.length - 1].step - pts[0].step);
  const trend: Trend = Math.abs(relativeChange) < flatThreshold ? 'flat' : relativeChange < 0 ? 'falling' : 'rising';
  return { trend, slopePerStep: slope, relativeChange, meanLoss: pts.reduce((s, p) => s + p.loss, 0) / pts.length, points: pts.length };
}

const fmt = (t: TrendStats) =>
  `${t.trend} (${(100 * t.relativeChange).toFixed(1)}% over ${t.points} points, mean ${t.meanLoss.toFixed(4)})`;

/**
 * Reads a LoRA run from its loss and val_loss curves over the last window, as a practitioner
 * would: both falling is healthy; train falling while validation is flat or rising is
 * overfitting; train flat while validation falls points at the split; both flat is a plateau;
 * training loss rising is a learning-rate or configuration problem.
 */
export function diagnoseRun(train: readonly LossPoint[], validation: readonly LossPoint[] = [], opts: TrendOptions = {}): RunDiagnosis {
  const flat = opts.flatThreshold ?? 0.02;
  const t = lossTrend(train.slice(-(opts.trainWindow ?? 50)), flat);
  const v = lossTrend(validation.slice(-(opts.valWindow ?? 10)), flat);
  const d = (c: RunCase, summary: string, suggestions: string[]): RunDiagnosis => ({
    case: c,
    summary,
    suggestions,
    train: t,
    validation: v,
  });
  if (!t) return d('too-short', 'Too few training losses to read a trend (need 3).', []);
  const numbers = `loss ${fmt(t)}${v ? `; val_loss ${fmt(v)}` : ''}`;
  if (t.trend === 'rising') {
    return d('diverging', `Training loss is rising: a learning-rate or configuration problem. ${numbers}.`, [
      'lower the learning rate (try 3–10× lower) or add warmup',
      'check the configuration: lora_alpha / r scaling, target modules, labels and padding (-100)',
      'enable gradient clipping (maxGradNorm 1.0)',
    ]);
  }
  if (!v) {
    if (t.trend === 'falling')
      return d('healthy', `Training loss is falling (no validation curve to compare). ${numbers}.`, [
        'add a validation split to detect overfitting',
      ]);
    return d('plateau', `Training loss is flat (no validation curve). ${numbers}.`, [
      'lower the learning rate or the batch size',
      'train longer or raise r if the loss is still high',
    ]);
  }
  if (t.trend === 'falling' && v.trend === 'falling')
    return d('healthy', `Both losses are falling: the run is healthy. ${numbers}.`, ['keep training while validation improves']);
  if (t.trend === 'falling' || (t.trend === 'flat' && v.trend === 'rising')) {
    return d('overfitting', `Training loss falls while validation loss is ${v.trend}: overfitting. ${numbers}.`, [
      'raise lora_dropout (e.g. 0.05–0.1)',
      'lower r',
      'target fewer modules',
      'add more (or more varied) training data',
      'stop earlier (early stopping on val_loss)',
    ]);
  }
  if (t.trend === 'flat' && v.trend === 'falling') {
    return d(
      'suspect-split',
      `Validation loss falls while training loss is flat: suspect the data split (leakage or a validation set unlike the training set). ${numbers}.`,
      [
        'check that validation examples do not appear in the training set',
        'check that both splits come from the same distribution and formatting',
      ],
    );
  }
  if (t.trend === 'flat' && v.trend === 'flat') {
    return d('plateau', `Both losses are flat: a plateau. ${numbers}.`, [
      'lower the learning rate',
      'lower the batch size',
      'if the loss is still high, raise r or target more modules',
    ]);
  }
  return d('unclear', `No clear pattern. ${numbers}.`, []);
}

/** Learning rate for a batch k times larger: ×√k for Adam-type optimizers, ×k for SGD. */
export function scaledLearningRate(lr: number, fromBatch: number, toBatch: number, optimizer: 'adam' | 'adamw' | 'sgd'): number {
  const k = toBatch / fromBatch;
  return optimizer === 'sgd' ? lr * k : lr * Math.sqrt(k);
}

/** A sentence of advice for changing the (effective) batch size. */
export function batchSizeAdvice(lr: number, fromBatch: number, toBatch: number, optimizer: 'adam' | 'adamw' | 'sgd'): string {
  const k = toBatch / fromBatch;
  const next = scaledLearningRate(lr, fromBatch, toBatch, optimizer);
  const rule =
    optimizer === 'sgd'
      ? `×${k.toFixed(3).replace(/\.?0+$/, '')} (linear scaling for SGD)`
      : `×√${k.toFixed(3).replace(/\.?0+$/, '')} (square-root scaling for Adam)`;
  return `Batch ${fromBatch} → ${toBatch} (${k >= 1 ? 'raised' : 'lowered'} ${k >= 1 ? k : 1 / k}-fold): learning rate ${lr} → ${next.toPrecision(3)} ${rule}.`;
}

export interface GradientFlowReport {
  ok: boolean;
  /** Gradient L2 norm of every trainable parameter. */
  norms: Map<string, number>;
  /** Trainable parameters whose gradient is exactly zero. */
  zero: string[];
  /** Trainable parameters with NaN or Inf gradients. */
  nonFinite: string[];
  /** Base-model parameters that have gradients (the base should be frozen). */
  baseWithGradients: string[];
  messages: string[];
}

/**
 * Checks where gradients flow: the adapter's trainable parameters should have non-zero, finite
 * gradients, and no frozen (base-model) parameter should have one. Parameters a method trains on
 * purpose (bias, modules_to_save) are trainable and allowed. `grads` by the names of
 * `model.namedParameters()`, as `TrainingHooks.onGradients` gets them. One read.
 */
export function gradientFlow<I, O>(model: PeftModel<I, O>, grads: ReadonlyMap<string, tf.Tensor>): GradientFlowReport {
  const trainable = new Set(model.trainableParameters().map(([n]) => n));
  const names = [...grads.keys()];
  const values = names.length ? tf.tidy(() => tf.stack(names.map((n) => tf.norm(tf.cast(grads.get(n)!, 'float32'))))) : null;
  const data = values ? values.dataSync() : new Float32Array();
  values?.dispose();
  const norms = new Map(names.map((n, i) => [n, data[i]]));
  const zero = names.filter((n) => trainable.has(n) && norms.get(n) === 0);
  const nonFinite = names.filter((n) => !Number.isFinite(norms.get(n)!));
  const baseWithGradients = names.filter((n) => !trainable.has(n));
  const messages: string[] = [];
  const flowing = names.filter((n) => trainable.has(n) && (norms.get(n) ?? 0) > 0 && Number.isFinite(norms.get(n)!));
  if (trainable.size === 0) messages.push('No trainable parameters: is an adapter active and trainable?');
  else if (flowing.length === 0)
    messages.push('No adapter parameter has a non-zero gradient: check that the adapter is active and the loss depends on it');
  if (zero.length && flowing.length)
    messages.push(
      `${zero.length} trainable tensors have zero gradients (expected for one factor when the other is initialised to zero, e.g. LoRA's A at the first step): ${zero.slice(0, 5).join(', ')}`,
    );
  if (nonFinite.length) messages.push(`Non-finite gradients in ${nonFinite.slice(0, 5).join(', ')}`);
  if (baseWithGradients.length) messages.push(`Frozen parameters received gradients: ${baseWithGradients.slice(0, 5).join(', ')}`);
  const missing = [...trainable].filter((n) => !grads.has(n));
  if (missing.length) messages.push(`No gradient for trainable ${missing.slice(0, 5).join(', ')}`);
  const ok = trainable.size > 0 && flowing.length > 0 && nonFinite.length === 0 && baseWithGradients.length === 0;
  return { ok, norms, zero, nonFinite, baseWithGradients, messages };
}

/**
 * A fingerprint of every frozen parameter (sum and sum of squares), to show after training that
 * the base weights were untouched. One read.
 */
export function frozenFingerprint<I, O>(model: PeftModel<I, O>): Map<string, [number, number]> {
  const frozen = model.namedParameters().filter(([, v]) => !v.trainable);
  if (frozen.length === 0) return new Map();
  const t = tf.tidy(() => tf.stack(frozen.flatMap(([, v]) => [tf.sum(v), tf.sum(tf.square(v))])));
  const d = t.dataSync();
  t.dispose();
  return new Map(frozen.map(([n], i) => [n, [d[2 * i], d[2 * i + 1]]]));
}

/** Names of frozen parameters whose fingerprint changed between two snapshots. */
export function changedFrozen(before: ReadonlyMap<string, [number, number]>, after: ReadonlyMap<string, [number, number]>): string[] {
  return [...before]
    .filter(([n, [a, b]]) => {
      const x = after.get(n);
      return !x || x[0] !== a || x[1] !== b;
    })
    .map(([n]) => n);
}
