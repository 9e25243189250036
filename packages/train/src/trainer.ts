import * as tf from '@tensorflow/tfjs-core';
import { Rng, requireGradients, type ModelOutput, type PeftModel, type TokenBatch } from '@peftjs/core';
import { collateExamples, type EncodedExample } from './data.js';
import { collectTrainingHooks, type BoundHooks, type TrainingHookContext, type TrainingHooks } from './hooks.js';
import { AdamW8bit } from './adamw8bit.js';
import { AdamW, SGD, type NamedVariable, type Optimizer } from './optimizers.js';
import { scheduleFactor, type LearningRateSchedule } from './schedules.js';
import { diagnoseRun, type LossPoint, type RunDiagnosis } from './diagnostics.js';
import { checkTrainerOptions, setGradientCheckpointing, type StopReason, type TrainResult, type TrainerOptions } from './options.js';
import { loadCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { MetricsLog, type TrainEvent } from './metrics.js';
import { lockFolder } from '@peftjs/core/io';
import { evaluateModel, evaluateModelAsync, type EvalOptions, type EvalResult } from './evaluate.js';
import { accumulateGradients, applyUpdate, type StepContext } from './step.js';

interface Stop {
  reason: StopReason;
  message?: string;
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
  private readonly o: Required<
    Pick<TrainerOptions<T, I>, 'batchSize' | 'gradientAccumulationSteps' | 'learningRate' | 'seed' | 'maxNonFiniteSteps'>
  >;
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
  private lastEval?: EvalResult;

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
    checkTrainerOptions(o, this.o);
    if (o.trainData.length === 0) throw new Error('Trainer: trainData is empty');
    if (o.saveEvery && !o.outputDir) throw new Error('Trainer: saveEvery needs an outputDir');
    if (o.gradientCheckpointing !== undefined) setGradientCheckpointing(o.model.base, o.gradientCheckpointing);
    const microPerEpoch = Math.ceil(o.trainData.length / this.o.batchSize);
    this.totalSteps = o.maxSteps ?? (o.epochs ?? 1) * Math.max(1, Math.ceil(microPerEpoch / this.o.gradientAccumulationSteps));
    this.lrFactor = scheduleFactor({ kind: o.schedule ?? 'linear', warmupSteps: o.warmupSteps ?? 0, totalSteps: this.totalSteps });
    // Without `collate`, T and I are the defaults (EncodedExample, TokenBatch): the generics cannot say so.
    this.collate =
      o.collate ??
      (((items: readonly T[]) => collateExamples(items as unknown as EncodedExample[], o.padTokenId ?? 0)) as unknown as (
        items: readonly T[],
      ) => I);
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
    this.lastEval = undefined;
    let stop: Stop = { reason: 'completed' };
    // one writer per output folder: a second run into it is refused (FolderLockedError)
    const unlock = this.options.outputDir ? await lockFolder(this.options.outputDir) : undefined;
    try {
      while (this.step < this.totalSteps) {
        const s = await this.trainStep();
        await this.emit(this.stepEvent(s, elapsed()));
        const stopped = await this.afterStep(s, elapsed);
        if (stopped) {
          stop = stopped;
          break;
        }
      }
      if (stop.message)
        await this.emit({ type: 'stopped', step: this.step, epoch: this.epoch, message: stop.message, elapsed_s: elapsed() });
    } finally {
      this.elapsedBefore = elapsed();
      await unlock?.();
    }
    return {
      step: this.step,
      stopReason: stop.reason,
      message: stop.message,
      skippedSteps: this.skippedSteps,
      trainLosses: [...this.trainLosses],
      valLosses: [...this.valLosses],
      lastEval: this.lastEval,
      lastCheckpoint: this.lastCheckpoint,
      diagnosis: this.diagnose(),
    };
  }

  /** After a step: stop on non-finite steps, evaluate (and stop early), checkpoint. */
  private async afterStep(s: StepStats, elapsed: () => number): Promise<Stop | undefined> {
    if (this.nonFiniteInRow >= this.o.maxNonFiniteSteps) return { reason: 'non-finite', message: this.nonFiniteMessage(s) };
    const { evalEvery, saveEvery, outputDir, evalData, earlyStopping } = this.options;
    const last = this.step >= this.totalSteps;
    if (evalData?.length && ((evalEvery && this.step % evalEvery === 0) || last) && (await this.evaluateAndCheck(elapsed))) {
      if (outputDir) await this.checkpoint(outputDir, elapsed());
      const message = `Early stopping at step ${this.step}: val_loss did not improve by more than ${earlyStopping!.minDelta ?? 0} for ${earlyStopping!.patience} evaluations (best ${this.bestValLoss})`;
      return { reason: 'early-stopping', message };
    }
    if (outputDir && ((saveEvery && this.step % saveEvery === 0 && this.nonFiniteInRow === 0) || last))
      await this.checkpoint(outputDir, elapsed());
    return undefined;
  }

  /** Evaluates, records and emits val_loss; true when early stopping says stop. */
  private async evaluateAndCheck(elapsed: () => number): Promise<boolean> {
    // read with await data(): WebGPU in a browser worker has no reliable synchronous read
    const r = await evaluateModelAsync(this.model, this.options.evalData ?? [], this.evalOptions());
    this.lastEval = r;
    this.valLosses.push({ step: this.step, loss: r.loss });
    await this.emit({
      type: 'eval',
      step: this.step,
      epoch: this.epoch,
      val_loss: r.loss,
      perplexity: r.perplexity,
      accuracy: r.accuracy,
      elapsed_s: elapsed(),
    });
    return this.earlyStop(r.loss);
  }

  private async checkpoint(outputDir: string, elapsed: number): Promise<void> {
    this.lastCheckpoint = await saveCheckpoint(outputDir, this.model, this.optimizer.getState(), this.state(elapsed));
    await this.emit({ type: 'checkpoint', step: this.step, epoch: this.epoch, checkpoint: this.lastCheckpoint, elapsed_s: elapsed });
  }

  private stepEvent(s: StepStats, elapsed: number): TrainEvent {
    return {
      type: 'step',
      step: this.step,
      epoch: this.epoch,
      loss: s.loss,
      ...(this.hooks.some((h) => h.hooks.extraLoss) ? { extra_loss: s.extraLoss } : {}),
      lr: s.lr,
      grad_norm: s.gradNorm,
      tokens_per_sec: s.seconds > 0 ? s.tokens / s.seconds : 0,
      elapsed_s: elapsed,
      ...(s.skipped ? { skipped: true } : {}),
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
    return evaluateModel(this.model, data, this.evalOptions());
  }

  private evalOptions(): EvalOptions<T, I> {
    return { batchSize: this.options.evalBatchSize ?? this.o.batchSize, collate: this.collate, accuracy: this.options.accuracy };
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

  /**
   * One optimizer step: gradients over `gradientAccumulationSteps` micro-batches, then the update.
   * A step is skipped (nothing changes) when the loss or the gradients are non-finite, and rolled
   * back when the update makes a trainable parameter non-finite. Numbers are read with `await data()`
   * (WebGPU in a browser worker has no reliable synchronous read).
   */
  private async trainStep(): Promise<StepStats> {
    const t0 = now();
    const ctx: StepContext<T, I> = {
      model: this.model,
      params: this.params,
      hooks: this.hooks,
      hookContext: (h) => this.hookContext(h),
      collate: this.collate,
    };
    const acc = await accumulateGradients(ctx, () => this.nextItems(), this.o.gradientAccumulationSteps);
    const { loss, extraLoss, gradNorm, tokens } = acc;
    const lr = this.learningRate;
    let skipped = !Number.isFinite(loss) || !Number.isFinite(gradNorm) || !Number.isFinite(extraLoss);
    try {
      if (!skipped) {
        const max = this.options.maxGradNorm === undefined ? 1.0 : this.options.maxGradNorm;
        skipped = !(await applyUpdate(ctx, this.optimizer, acc, lr, max));
      }
    } finally {
      tf.dispose(acc.grads);
    }
    if (skipped) {
      this.nonFiniteInRow++;
      this.skippedSteps++;
    } else {
      this.nonFiniteInRow = 0;
      this.trainLosses.push({ step: this.step + 1, loss });
    }
    for (const h of this.hooks) h.hooks.onStepEnd?.({ loss, lr, gradNorm, skipped }, this.hookContext(h));
    this.step++;
    return { loss, extraLoss, gradNorm, lr, tokens, skipped, seconds: (now() - t0) / 1000 };
  }

  private hookContext(h?: BoundHooks): TrainingHookContext {
    return { model: this.model, step: this.step, totalSteps: this.totalSteps, adapterName: h?.adapterName };
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
      `Training stopped at step ${this.step}: ${k} steps in a row had a non-finite loss, gradients or updated weights (loss ${s.loss}, grad_norm ${s.gradNorm}); ` +
      `no update was kept for them. Likely causes: the learning rate (${this.o.learningRate}) is too high (lower it, add warmup or gradient clipping), ` +
      `or bad data (empty examples, every label -100, extreme values). ${keep}`
    );
  }

  private state(elapsed: number): TrainerState {
    const trained = this.model.activeAdapters.filter((n) =>
      this.model.adapter(n).hooks.some((h) => h.params.namedParameters().some(([, v]) => v.trainable)),
    );
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

  /** Hands an event to `onEvent` (awaited: events arrive one at a time, in order) and to metrics.jsonl. */
  private async emit(e: TrainEvent): Promise<void> {
    try {
      await this.options.onEvent?.(e);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`onEvent handler failed on the ${e.type} event of step ${e.step}: ${why}`, { cause: err });
    }
    await this.metrics?.append(e);
  }
}

function unknownOptimizer(name: string): never {
  throw new Error(`Unknown optimizer "${name}": use "adamw", "adamw8bit", "sgd" or a factory`);
}

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}
