/**
 * A training run in the worker: the @peftjs/train Trainer on the current model and data, its
 * events posted to the page, Stop between steps and Resume where it stopped.
 */
import { Trainer, type TrainEvent } from '@peftjs/train';
import { collateBucketed, newAdapter, padId, requireModel, state, validationLoss } from './engine.js';
import type { TrainSettings, TrainSummary } from './protocol.js';
import { setAppendGate } from './vfs/fs.js';
import { removeTree } from './vfs/store.js';

/** Thrown where the Trainer awaits a finished step's metrics line, to leave `train()` there. */
class StopRequested extends Error {}

interface Run {
  trainer: Trainer;
  stopAsked: boolean;
}

let run: Run | undefined;

/** Asks the running Trainer to stop after its current step (the worker sees this between steps). */
export function requestStop(): void {
  if (run) run.stopAsked = true;
}

export function disposeRun(): void {
  run?.trainer.dispose();
  run = undefined;
}

/** A fresh adapter and Trainer; reports val_loss before the first step as step 0. */
export async function startTraining(
  method: string,
  options: Record<string, unknown>,
  s: TrainSettings,
  post: (e: TrainEvent, totalSteps: number) => void,
): Promise<TrainSummary> {
  const data = state.data;
  if (!data) throw new Error('load training data first');
  disposeRun();
  // AdaLoRA's rank schedule needs the run's length (PEFT's total_step)
  const opts = method === 'adalora' ? { ...options, total_step: s.steps } : options;
  const peft = newAdapter(method, opts);
  removeTree('/run');
  const trainer: Trainer = new Trainer({
    model: peft,
    trainData: data.train,
    evalData: data.validation.length ? data.validation : undefined,
    collate: (items) => collateBucketed(items, padId(requireModel().tokenizer)),
    evalBatchSize: 16,
    batchSize: s.batchSize,
    maxSteps: s.steps,
    learningRate: s.learningRate,
    schedule: 'cosine',
    warmupSteps: s.warmupSteps,
    maxGradNorm: 1,
    evalEvery: s.evalEvery,
    outputDir: '/run',
    seed: s.seed,
    onEvent: (e) => post(e, trainer.totalSteps),
  });
  run = { trainer, stopAsked: false };
  const before = await validationLoss(peft);
  if (before !== null)
    post({ type: 'eval', step: 0, epoch: 0, val_loss: before, perplexity: Math.exp(before), elapsed_s: 0 }, trainer.totalSteps);
  return continueTraining();
}

/** Runs (or resumes) the current Trainer until it finishes or Stop is asked. */
export async function continueTraining(): Promise<TrainSummary> {
  const r = run;
  if (!r) throw new Error('nothing to resume: start a training run first');
  if (r.trainer.currentStep >= r.trainer.totalSteps) throw new Error('this run has finished; start a new one');
  r.stopAsked = false;
  // Stop is read while the Trainer awaits the metrics line of a finished step (see setAppendGate)
  setAppendGate(() => {
    if (r.stopAsked && r.trainer.currentStep < r.trainer.totalSteps) throw new StopRequested();
  });
  const summary = (stopReason: string, lastValLoss: number | null): TrainSummary => {
    const d = r.trainer.diagnose();
    return {
      step: r.trainer.currentStep,
      totalSteps: r.trainer.totalSteps,
      stopReason,
      diagnosis: { case: d.case, summary: d.summary, suggestions: d.suggestions },
      trainableLine: state.trainableLine ?? '',
      lastValLoss,
    };
  };
  try {
    const result = await r.trainer.train();
    state.peft?.eval();
    return summary(result.stopReason, result.lastEval?.loss ?? null);
  } catch (e) {
    state.peft?.eval();
    if (e instanceof StopRequested) return summary('stopped', null);
    throw e;
  } finally {
    setAppendGate(undefined);
  }
}
