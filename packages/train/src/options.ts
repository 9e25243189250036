import type { ModelOutput, PeftModel, Rng, TokenBatch } from '@peftjs/core';
import type { EncodedExample } from './data.js';
import type { LossPoint, RunDiagnosis } from './diagnostics.js';
import type { EvalResult } from './evaluate.js';
import type { TrainingHooks } from './hooks.js';
import type { TrainEvent } from './metrics.js';
import type { AdamWOptions, NamedVariable, Optimizer, SgdOptions } from './optimizers.js';
import type { ScheduleKind } from './schedules.js';

export interface EarlyStoppingOptions {
  /** Evaluations without an improvement of val_loss before stopping. */
  patience: number;
  /** An improvement must lower the best val_loss by more than this. Default 0. */
  minDelta?: number;
}

export interface TrainerOptions<T = EncodedExample, I = TokenBatch> {
  /** A PeftModel whose forward returns `{ logits, loss }` when the batch has labels. */
  model: PeftModel<I, ModelOutput>;
  trainData: readonly T[];
  evalData?: readonly T[];
  /** Items → a batch of tensors (the Trainer disposes them). Default: `collateExamples` with `padTokenId`. */
  collate?: (items: readonly T[]) => I;
  padTokenId?: number;
  /** Micro-batch size. Default 8. */
  batchSize?: number;
  evalBatchSize?: number;
  /** Micro-batches per optimizer step. Default 1. */
  gradientAccumulationSteps?: number;
  /** Optimizer steps to run; default: `epochs` (default 1) over the training data. */
  maxSteps?: number;
  epochs?: number;
  /** Base learning rate. Default 2e-4. */
  learningRate?: number;
  /** 'adamw' (default), 'adamw8bit' (bitsandbytes' blockwise 8-bit moments), 'sgd', or a factory of your own. */
  optimizer?: 'adamw' | 'adamw8bit' | 'sgd' | ((params: readonly NamedVariable[]) => Optimizer);
  adamw?: AdamWOptions;
  sgd?: SgdOptions;
  /** Default 'linear' (transformers' default). */
  schedule?: ScheduleKind;
  warmupSteps?: number;
  /** Global-norm clipping (torch `clip_grad_norm_`); null turns it off. Default 1.0. */
  maxGradNorm?: number | null;
  /** Evaluate every N optimizer steps (and always at the end when there is eval data). */
  evalEvery?: number;
  /** Checkpoint every N optimizer steps into `outputDir` (and at the end). */
  saveEvery?: number;
  /** Where checkpoints and `metrics.jsonl` go. */
  outputDir?: string;
  earlyStopping?: EarlyStoppingOptions;
  /** Seeds the data order and reseeds the dropout generator. Default 42. */
  seed?: number;
  /** The generator the model's dropout draws from (its state is checkpointed). Default: the PeftModel's own. */
  rng?: Rng;
  /** Non-finite steps in a row before the run stops. Default 5. */
  maxNonFiniteSteps?: number;
  hooks?: TrainingHooks | readonly TrainingHooks[];
  /**
   * Every step, evaluation, checkpoint and stop. Awaited: the run waits for an async handler before
   * it goes on, so events arrive in order and all before `train()` resolves. A handler that throws
   * or rejects fails the run (the error says so, with the handler's error as `cause`). Two
   * signatures rather than `=> void | Promise<void>`, so `(e) => events.push(e)` (a number) still fits.
   */
  onEvent?: ((event: TrainEvent) => void) | ((event: TrainEvent) => Promise<void>);
  /** Classification accuracy at evaluation: default when labels are [B] and logits [B, C]. */
  accuracy?: boolean;
  /**
   * Activation recomputation (transformers' `gradient_checkpointing`): sets the base model's
   * `gradientCheckpointing`, so each layer keeps only its input for the backward pass and runs again
   * there (about one more forward pass of compute, far less memory on long sequences). Absent: the
   * model's own setting is kept. `true` on a model that offers no recomputation is an error.
   */
  gradientCheckpointing?: boolean;
}

export type StopReason = 'completed' | 'early-stopping' | 'non-finite';

export interface TrainResult {
  step: number;
  stopReason: StopReason;
  message?: string;
  /** Steps skipped: a non-finite loss or gradients, or an update rolled back because it made a parameter non-finite. */
  skippedSteps: number;
  trainLosses: LossPoint[];
  valLosses: LossPoint[];
  lastEval?: EvalResult;
  lastCheckpoint?: string;
  diagnosis: RunDiagnosis;
}

/**
 * Checks a Trainer's options (with the defaults filled in `d`): counts are positive integers, the
 * learning rate positive, clip, decay and warmup not negative, the seed an integer.
 */
export function checkTrainerOptions<T, I>(
  o: TrainerOptions<T, I>,
  d: { batchSize: number; gradientAccumulationSteps: number; maxNonFiniteSteps: number; learningRate: number; seed: number },
): void {
  for (const [k, v] of Object.entries({
    batchSize: d.batchSize,
    gradientAccumulationSteps: d.gradientAccumulationSteps,
    maxNonFiniteSteps: d.maxNonFiniteSteps,
  })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`Trainer ${k} must be a positive integer, got ${v}`);
  }
  for (const [k, v] of Object.entries({ maxSteps: o.maxSteps, epochs: o.epochs, evalEvery: o.evalEvery, saveEvery: o.saveEvery })) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`Trainer ${k} must be a positive integer, got ${v}`);
  }
  checkNumbers(o, d);
}

/** The numeric options beyond the counts: a learning rate that trains uphill or a negative clip is refused. */
function checkNumbers<T, I>(o: TrainerOptions<T, I>, d: { learningRate: number; seed: number }): void {
  const bad = (k: string, v: unknown, what: string) => new Error(`Trainer ${k} must be ${what}, got ${v}`);
  if (!(Number.isFinite(d.learningRate) && d.learningRate > 0)) throw bad('learningRate', d.learningRate, 'a number > 0');
  if (!Number.isInteger(d.seed)) throw bad('seed', d.seed, 'an integer');
  if (o.warmupSteps !== undefined && !(Number.isInteger(o.warmupSteps) && o.warmupSteps >= 0))
    throw bad('warmupSteps', o.warmupSteps, 'an integer ≥ 0');
  const clip = o.maxGradNorm;
  if (clip !== undefined && clip !== null && !(Number.isFinite(clip) && clip > 0))
    throw bad('maxGradNorm', clip, 'a number > 0 or null (no clipping)');
  const wd = o.adamw?.weightDecay;
  if (wd !== undefined && !(Number.isFinite(wd) && wd >= 0)) throw bad('adamw.weightDecay', wd, 'a number ≥ 0');
}

/** Turns the base model's activation recomputation on or off; refuses `true` on a model without it. */
export function setGradientCheckpointing(base: { gradientCheckpointing?: boolean; dims: { modelType: string } }, on: boolean): void {
  if (!('gradientCheckpointing' in base)) {
    if (on) throw new Error(`Trainer gradientCheckpointing: model ${base.dims.modelType} offers no activation recomputation`);
    return;
  }
  base.gradientCheckpointing = on;
}
