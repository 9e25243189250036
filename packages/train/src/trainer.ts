import * as tf from '@tensorflow/tfjs-core';
import { Rng, requireGradients, type ModelOutput, type PeftModel, type TokenBatch } from '@peftjs/core';
import { collateExamples, countTokens, type EncodedExample } from './data.js';
import { collectTrainingHooks, type BoundHooks, type TrainingHookContext, type TrainingHooks } from './hooks.js';
import { AdamW8bit } from './adamw8bit.js';
import { AdamW, SGD, clipCoefficient, globalNorm, type AdamWOptions, type NamedVariable, type Optimizer, type SgdOptions } from './optimizers.js';
import { scheduleFactor, type LearningRateSchedule, type ScheduleKind } from './schedules.js';
import { diagnoseRun, type LossPoint, type RunDiagnosis } from './diagnostics.js';
import { loadCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { MetricsLog, type TrainEvent } from './metrics.js';

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
  /** 'adamw' (default), 'sgd', or a factory of your own. */
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
  /** Every step, evaluation, checkpoint and stop. */
  onEvent?: (event: TrainEvent) => void;
  /** Classification accuracy at evaluation: default when labels are [B] and logits [B, C]. */
  accuracy?: boolean;
}

export type StopReason = 'completed' | 'early-stopping' | 'non-finite';

export interface EvalResult {
  loss: number;
  perplexity: number;
  accuracy?: number;
  examples: number;
}

export interface TrainResult {
  step: number;
  stopReason: StopReason;
  message?: string;
  /** Steps skipped for a non-finite loss or gradients. */
  skippedSteps: number;
  trainLosses: LossPoint[];
  valLosses: LossPoint[];
  lastEval?: EvalResult;
  lastCheckpoint?: string;
  diagnosis: RunDiagnosis;
}

interface StepStats {
  loss: number;
  extraLoss: number;
  gradNorm: number;
  lr: number;
  tokens: number;
  skipped: boolean;
  seconds: number;
}

/**
 * Trains the trainable parameters of a PeftModel: one `tf.variableGrads` over them per
 * micro-batch, gradient accumulation, clipping, AdamW or SGD written here, a warmup/decay
 * schedule, evaluation, early stopping, non-finite step skipping and exact checkpoints.
 */
export class Trainer<T = EncodedExample, I = TokenBatch> {
  readonly model: PeftModel<I, ModelOutput>;
  readonly optimizer: Optimizer;
  readonly totalSteps: number;
  private readonly params: NamedVariable[];
  private readonly o: Required<Pick<TrainerOptions<T, I>, 'batchSize' | 'gradientAccumulationSteps' | 'learningRate' | 'seed' | 'maxNonFiniteSteps'>>;
  private readonly lrFactor: LearningRateSchedule;
  private readonly collate: (items: readonly T[]) => I;
  private readonly rng: Rng;
  private readonly metrics?: MetricsLog;
  private readonly hooks: BoundHooks[];
  private readonly given: TrainingHooks[];

  // run state (checkpointed)
  private step = 0;
  private epoch = 0;
  private position = 0;
  private bestValLoss: number | null = null;
  private evalsWithoutImprovement = 0;
  private nonFiniteInRow = 0;
  private skippedSteps = 0;
  private elapsedBefore = 0;
  private trainLosses: LossPoint[] = [];
  private valLosses: LossPoint[] = [];
  private resumed = false;
  private orderCache: { epoch: number; order: number[] } | null = null;
  private lastCheckpoint?: string;

  constructor(readonly options: TrainerOptions<T, I>) {
    requireGradients();
    const o = options;
    this.model = o.model;
    this.o = {
      batchSize: o.batchSize ?? 8,
      gradientAccumulationSteps: o.gradientAccumulationSteps ?? 1,
      learningRate: o.learningRate ?? 2e-4,
      seed: o.seed ?? 42,
      maxNonFiniteSteps: o.maxNonFiniteSteps ?? 5,
    };
    for (const [k, v] of Object.entries({ batchSize: this.o.batchSize, gradientAccumulationSteps: this.o.gradientAccumulationSteps, maxNonFiniteSteps: this.o.maxNonFiniteSteps })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`Trainer ${k} must be a positive integer, got ${v}`);
    }
    for (const [k, v] of Object.entries({ maxSteps: o.maxSteps, epochs: o.epochs, evalEvery: o.evalEvery, saveEvery: o.saveEvery })) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`Trainer ${k} must be a positive integer, got ${v}`);
    }
    if (o.trainData.length === 0) throw new Error('Trainer: trainData is empty');
    if (o.saveEvery && !o.outputDir) throw new Error('Trainer: saveEvery needs an outputDir');
    const microPerEpoch = Math.ceil(o.trainData.length / this.o.batchSize);
    this.totalSteps = o.maxSteps ?? (o.epochs ?? 1) * Math.max(1, Math.ceil(microPerEpoch / this.o.gradientAccumulationSteps));
    this.lrFactor = scheduleFactor({ kind: o.schedule ?? 'linear', warmupSteps: o.warmupSteps ?? 0, totalSteps: this.totalSteps });
    this.collate = o.collate ?? (((items: readonly T[]) => collateExamples(items as unknown as EncodedExample[], o.padTokenId ?? 0)) as unknown as (items: readonly T[]) => I);
    // The generator the adapters' dropout draws from is the PeftModel's (`PeftModelOptions.rng`,
    // default core's global one): its state is checkpointed for an exact resume.
    this.rng = o.rng ?? this.model.rng;
    this.params = this.model.trainableParameters();
    if (this.params.length === 0) throw new Error('Trainer: the model has no trainable parameters (is an adapter active and trainable?)');
    const opt = o.optimizer ?? 'adamw';
    this.optimizer =
      typeof opt === 'function'
        ? opt(this.params)
        : opt === 'sgd'
          ? new SGD(this.params, o.sgd)
          : opt === 'adamw'
            ? new AdamW(this.params, o.adamw)
            : opt === 'adamw8bit'
              ? new AdamW8bit(this.params, o.adamw)
              : unknownOptimizer(opt);
    this.given = o.hooks === undefined ? [] : Array.isArray(o.hooks) ? [...(o.hooks as TrainingHooks[])] : [o.hooks as TrainingHooks];
    this.hooks = collectTrainingHooks(this.model, this.given);
    if (o.outputDir) this.metrics = new MetricsLog(o.outputDir);
  }

  /** The optimizer steps taken so far. */
  get currentStep(): number {
    return this.step;
  }

  /** The learning rate of the next optimizer step. */
  get learningRate(): number {
    return this.o.learningRate * this.lrFactor(this.step);
  }

  /** Runs until `totalSteps`, early stopping, or too many non-finite steps in a row. */
  async train(): Promise<TrainResult> {
    const start = now();
    const elapsed = () => this.elapsedBefore + (now() - start) / 1000;
    if (!this.resumed && this.step === 0) this.rng.setState(new Rng(this.o.seed).getState());
    this.model.train();
    let stopReason: StopReason = 'completed';
    let message: string | undefined;
    let lastEval: EvalResult | undefined;
    const { evalEvery, saveEvery, outputDir, evalData } = this.options;
    const doEval = async () => {
      lastEval = this.evaluate();
      this.valLosses.push({ step: this.step, loss: lastEval.loss });
      await this.emit({ type: 'eval', step: this.step, epoch: this.epoch, val_loss: lastEval.loss, perplexity: lastEval.perplexity, accuracy: lastEval.accuracy, elapsed_s: elapsed() });
      return this.earlyStop(lastEval.loss);
    };
    const doSave = async () => {
      this.lastCheckpoint = await saveCheckpoint(outputDir!, this.model, this.optimizer.getState(), this.state(elapsed()));
      await this.emit({ type: 'checkpoint', step: this.step, epoch: this.epoch, checkpoint: this.lastCheckpoint, elapsed_s: elapsed() });
    };
    try {
      while (this.step < this.totalSteps) {
        const s = this.trainStep();
        await this.emit({
          type: 'step',
          step: this.step,
          epoch: this.epoch,
          loss: s.loss,
          ...(this.hooks.some((h) => h.hooks.extraLoss) ? { extra_loss: s.extraLoss } : {}),
          lr: s.lr,
          grad_norm: s.gradNorm,
          tokens_per_sec: s.seconds > 0 ? s.tokens / s.seconds : 0,
          elapsed_s: elapsed(),
          ...(s.skipped ? { skipped: true } : {}),
        });
        if (this.nonFiniteInRow >= this.o.maxNonFiniteSteps) {
          stopReason = 'non-finite';
          message = this.nonFiniteMessage(s);
          break;
        }
        const last = this.step >= this.totalSteps;
        if (evalData?.length && ((evalEvery && this.step % evalEvery === 0) || last) && (await doEval())) {
          stopReason = 'early-stopping';
          message = `Early stopping at step ${this.step}: val_loss did not improve by more than ${this.options.earlyStopping!.minDelta ?? 0} for ${this.options.earlyStopping!.patience} evaluations (best ${this.bestValLoss})`;
          if (outputDir) await doSave();
          break;
        }
        if (outputDir && ((saveEvery && this.step % saveEvery === 0 && this.nonFiniteInRow === 0) || last)) await doSave();
      }
      if (message) await this.emit({ type: 'stopped', step: this.step, epoch: this.epoch, message, elapsed_s: elapsed() });
    } finally {
      this.elapsedBefore = elapsed();
    }
    return {
      step: this.step,
      stopReason,
      message,
      skippedSteps: this.skippedSteps,
      trainLosses: [...this.trainLosses],
      valLosses: [...this.valLosses],
      lastEval,
      lastCheckpoint: this.lastCheckpoint,
      diagnosis: this.diagnose(),
    };
  }

  /** Restores the latest checkpoint in `dir` (or `dir` itself when it is one) and continues training. */
  async resume(dir: string): Promise<TrainResult> {
    await this.restore(dir);
    return this.train();
  }

  /** Restores a checkpoint without training: adapter weights, optimizer, RNG, data position and counters. */
  async restore(dir: string): Promise<TrainerState> {
    const ck = await loadCheckpoint(dir, this.model);
    try {
      this.optimizer.setState(ck.optimizer);
    } finally {
      tf.dispose([...ck.optimizer.tensors.values()]);
    }
    const s = ck.state;
    if (s.seed !== this.o.seed) throw new Error(`${ck.dir}: checkpoint seed ${s.seed} differs from the Trainer's seed ${this.o.seed}`);
    this.step = s.step;
    this.epoch = s.epoch;
    this.position = s.position;
    this.rng.setState(s.rng_state);
    this.bestValLoss = s.best_val_loss;
    this.evalsWithoutImprovement = s.evals_without_improvement;
    this.nonFiniteInRow = s.non_finite_in_row;
    this.skippedSteps = s.skipped_steps;
    this.elapsedBefore = s.elapsed_s;
    this.trainLosses = [...s.train_losses];
    this.valLosses = [...s.val_losses];
    this.lastCheckpoint = ck.dir;
    this.resumed = true;
    await this.metrics?.truncateAfter(s.step);
    return s;
  }

  /** Mean loss over `data` (batches weighted by size, as transformers), perplexity = e^loss, accuracy for classification. */
  evaluate(data: readonly T[] = this.options.evalData ?? []): EvalResult {
    return evaluateModel(this.model, data, { batchSize: this.options.evalBatchSize ?? this.o.batchSize, collate: this.collate, accuracy: this.options.accuracy });
  }

  /** The diagnosis of the run so far (loss and val_loss trends). */
  diagnose(): RunDiagnosis {
    return diagnoseRun(this.trainLosses, this.valLosses);
  }

  /** Disposes what the Trainer made (the optimizer state); the model stays. */
  dispose(): void {
    this.optimizer.dispose();
  }

  // ---- one step ----------------------------------------------------------------------------

  private trainStep(): StepStats {
    const t0 = now();
    const vars = this.params.map(([, v]) => v);
    const accum = this.o.gradientAccumulationSteps;
    const ctx = (h?: BoundHooks): TrainingHookContext => ({ model: this.model, step: this.step, totalSteps: this.totalSteps, adapterName: h?.adapterName });
    const extraHooks = this.hooks.filter((h) => h.hooks.extraLoss);
    let acc: tf.Tensor[] | null = null;
    let lossSum: tf.Tensor | null = null;
    let extraSum: tf.Tensor | null = null;
    let tokens = 0;
    try {
      for (let m = 0; m < accum; m++) {
        const items = this.nextItems();
        tokens += countTokens(items);
        const batch = this.collate(items);
        try {
          const r = tf.tidy(() => {
            let modelLoss: tf.Tensor | null = null;
            let extra: tf.Tensor | null = null;
            const { grads } = tf.variableGrads(() => {
              const out = this.model.forward(batch);
              if (!out.loss) throw new Error('Trainer: the model returned no loss; does the batch have labels?');
              modelLoss = tf.keep(out.loss);
              let total = out.loss as tf.Scalar;
              const terms = extraHooks.map((h) => h.hooks.extraLoss!(ctx(h))).filter((x): x is tf.Scalar => !!x);
              if (terms.length) {
                extra = tf.keep(tf.addN(terms));
                total = tf.add(total, extra);
              }
              return (accum === 1 ? total : tf.div(total, accum)) as tf.Scalar;
            }, vars);
            return { g: vars.map((v) => grads[v.name] ?? tf.zerosLike(v)), modelLoss: modelLoss!, extra: extra ?? tf.scalar(0) };
          });
          if (acc === null) acc = r.g;
          else {
            const prev: tf.Tensor[] = acc;
            acc = tf.tidy(() => prev.map((a, i) => tf.add(a, r.g[i])));
            tf.dispose([...prev, ...r.g]);
          }
          const prevLoss: tf.Tensor | null = lossSum;
          const prevExtra: tf.Tensor | null = extraSum;
          lossSum = prevLoss ? tf.add(prevLoss, r.modelLoss) : r.modelLoss;
          extraSum = prevExtra ? tf.add(prevExtra, r.extra) : r.extra;
          if (prevLoss) tf.dispose([prevLoss, prevExtra!, r.modelLoss, r.extra]);
        } finally {
          disposeBatch(batch);
        }
      }
      const grads = acc!;
      const stats = tf.tidy(() => tf.stack([tf.div(lossSum!, accum), tf.div(extraSum!, accum), globalNorm(grads)]));
      const [loss, extraLoss, gradNorm] = stats.dataSync();
      stats.dispose();
      const lr = this.learningRate;
      const skipped = !Number.isFinite(loss) || !Number.isFinite(gradNorm) || !Number.isFinite(extraLoss);
      if (skipped) {
        this.nonFiniteInRow++;
        this.skippedSteps++;
      } else {
        this.nonFiniteInRow = 0;
        const max = this.options.maxGradNorm === undefined ? 1.0 : this.options.maxGradNorm;
        const coef = max === null ? 1 : clipCoefficient(gradNorm, max);
        const clipped = coef < 1 ? tf.tidy(() => grads.map((g) => tf.mul(g, coef))) : grads;
        try {
          this.optimizer.step(clipped, lr);
          const named = this.hooks.some((h) => h.hooks.onGradients) ? new Map(this.params.map(([n], i) => [n, clipped[i]])) : null;
          if (named) for (const h of this.hooks) h.hooks.onGradients?.(named, ctx(h));
        } finally {
          if (clipped !== grads) tf.dispose(clipped);
        }
        this.trainLosses.push({ step: this.step + 1, loss });
      }
      for (const h of this.hooks) h.hooks.onStepEnd?.({ loss, lr, gradNorm, skipped }, ctx(h));
      this.step++;
      return { loss, extraLoss, gradNorm, lr, tokens, skipped, seconds: (now() - t0) / 1000 };
    } finally {
      if (acc) tf.dispose(acc);
      if (lossSum) tf.dispose(lossSum);
      if (extraSum) tf.dispose(extraSum);
    }
  }

  /** The next micro-batch's items in the seeded order of the current epoch. */
  private nextItems(): T[] {
    const data = this.options.trainData;
    if (this.position >= data.length) {
      this.epoch++;
      this.position = 0;
    }
    const order = this.order(this.epoch);
    const idx = order.slice(this.position, this.position + this.o.batchSize);
    this.position += idx.length;
    return idx.map((i) => data[i]);
  }

  /** A fresh permutation per epoch, a function of (seed, epoch) only, so a resumed run sees the same order. */
  private order(epoch: number): number[] {
    if (this.orderCache?.epoch !== epoch) {
      const n = this.options.trainData.length;
      const rng = new Rng((Math.imul(this.o.seed, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
      this.orderCache = { epoch, order: rng.shuffle(Array.from({ length: n }, (_, i) => i)) };
    }
    return this.orderCache.order;
  }

  private earlyStop(valLoss: number): boolean {
    const es = this.options.earlyStopping;
    if (Number.isFinite(valLoss) && (this.bestValLoss === null || valLoss < this.bestValLoss - (es?.minDelta ?? 0))) {
      this.bestValLoss = valLoss;
      this.evalsWithoutImprovement = 0;
      return false;
    }
    this.evalsWithoutImprovement++;
    return !!es && this.evalsWithoutImprovement >= es.patience;
  }

  private nonFiniteMessage(s: StepStats): string {
    const k = this.nonFiniteInRow;
    const keep = this.lastCheckpoint ? `The last good checkpoint is ${this.lastCheckpoint}.` : 'No checkpoint was written.';
    return (
      `Training stopped at step ${this.step}: ${k} steps in a row had a non-finite loss or gradients (loss ${s.loss}, grad_norm ${s.gradNorm}); ` +
      `no update was applied for them. Likely causes: the learning rate (${this.o.learningRate}) is too high (lower it, add warmup or gradient clipping), ` +
      `or bad data (empty examples, every label -100, extreme values). ${keep}`
    );
  }

  private state(elapsed: number): TrainerState {
    const trained = this.model.activeAdapters.filter((n) => this.model.adapter(n).hooks.some((h) => h.params.namedParameters().some(([, v]) => v.trainable)));
    return {
      format: 'peftjs-trainer',
      version: 1,
      step: this.step,
      epoch: this.epoch,
      position: this.position,
      seed: this.o.seed,
      rng_state: this.rng.getState(),
      optimizer: this.optimizer.getState().info,
      adapters: trained,
      best_val_loss: this.bestValLoss,
      evals_without_improvement: this.evalsWithoutImprovement,
      non_finite_in_row: this.nonFiniteInRow,
      skipped_steps: this.skippedSteps,
      elapsed_s: elapsed,
      train_losses: this.trainLosses,
      val_losses: this.valLosses.filter((p) => Number.isFinite(p.loss)),
    };
  }

  private async emit(e: TrainEvent): Promise<void> {
    this.options.onEvent?.(e);
    await this.metrics?.append(e);
  }
}

function unknownOptimizer(name: string): never {
  throw new Error(`Unknown optimizer "${name}": use "adamw", "adamw8bit", "sgd" or a factory`);
}

/** Disposes every tensor of a batch object (one level deep). */
function disposeBatch(batch: unknown): void {
  if (batch instanceof tf.Tensor) batch.dispose();
  else if (batch && typeof batch === 'object') for (const v of Object.values(batch)) if (v instanceof tf.Tensor) v.dispose();
}

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}

/**
 * Mean loss of a model over data (batches weighted by size, as transformers), perplexity = e^loss,
 * and accuracy for classification. Works on any module with `forward(batch) → { logits, loss }`
 * (a PeftModel or a plain base model); the model is put in eval mode for the duration.
 */
export function evaluateModel<T, I>(
  model: { forward(batch: I): ModelOutput; train(mode?: boolean): unknown; eval(): unknown; training?: boolean; control?: { training: boolean } },
  data: readonly T[],
  opts: { batchSize: number; collate: (items: readonly T[]) => I; accuracy?: boolean },
): EvalResult {
  if (data.length === 0) throw new Error('evaluate: no evaluation data');
  const wasTraining = model.control?.training ?? model.training ?? false;
  model.eval();
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  let withAccuracy = false;
  try {
    for (let i = 0; i < data.length; i += opts.batchSize) {
      const items = data.slice(i, i + opts.batchSize);
      const batch = opts.collate(items);
      try {
        const r = tf.tidy(() => {
          const out = model.forward(batch);
          if (!out.loss) throw new Error('evaluate: the model returned no loss; does the batch have labels?');
          const labels = (batch as { labels?: tf.Tensor }).labels;
          const acc = opts.accuracy ?? (labels !== undefined && labels.rank === 1 && out.logits.rank === 2);
          const parts = [tf.mul(out.loss, items.length)];
          if (acc && labels) parts.push(tf.sum(tf.cast(tf.equal(tf.argMax(out.logits, -1), tf.cast(labels, 'int32')), 'float32')));
          return tf.stack(parts);
        });
        const d = r.dataSync();
        r.dispose();
        lossSum += d[0];
        if (d.length > 1) {
          withAccuracy = true;
          correct += d[1];
        }
        count += items.length;
      } finally {
        disposeBatch(batch);
      }
    }
  } finally {
    model.train(wasTraining);
  }
  const loss = lossSum / count;
  return { loss, perplexity: Math.exp(loss), ...(withAccuracy ? { accuracy: correct / count } : {}), examples: count };
}
