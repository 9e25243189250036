/**
 * A training run in the worker: the @peftjs/train Trainer on the current model and data, its
 * events posted to the page, each checkpoint stored in the browser (checkpoints.ts), Stop between
 * steps, Resume where it stopped, and Resume of a stored run after a reload or a lost device.
 */
import { Trainer, type TrainEvent } from '@peftjs/train';
import { readCheckpoint, sha256Hex, storeCheckpoint, storedRuns } from './checkpoints.js';
import { collateBucketed, newAdapter, padId, requireModel, state, validationLoss } from './engine.js';
import type { StoredRun, TrainSettings, TrainSummary, WorkerMessage } from './protocol.js';
import { setAppendGate } from './vfs/fs.js';
import { getFile, listFiles, putFile, removeTree } from './vfs/store.js';

/** Thrown where the Trainer awaits a finished step's metrics line, to leave `train()` there. */
class StopRequested extends Error {}

/** The Trainer's output folder in the in-memory file system. */
const OUT = '/run';

type Post = (m: WorkerMessage) => void;

interface Run {
  trainer: Trainer;
  settings: TrainSettings;
  /** What the stored checkpoints of this run are filed under (all but step and time). */
  record: Omit<StoredRun, 'step' | 'savedAt'>;
  stopAsked: boolean;
  /** The last event the Trainer emitted (the one whose metrics line is being appended). */
  last?: TrainEvent;
  /** A checkpoint folder written but not yet stored in the browser. */
  unstored?: { dir: string; step: number };
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

/** A fresh adapter and a Trainer of `settings` on the loaded model and data. */
async function newRun(method: string, options: Record<string, unknown>, s: TrainSettings, post: Post): Promise<Run> {
  const data = state.data;
  if (!data) throw new Error('load training data first');
  disposeRun();
  const model = requireModel().info.id;
  const key = await sha256Hex(JSON.stringify({ model, data: data.id, method, options, settings: s }));
  // AdaLoRA's rank schedule needs the run's length (PEFT's total_step)
  const peft = newAdapter(method, method === 'adalora' ? { ...options, total_step: s.steps } : options);
  removeTree(OUT);
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
    saveEvery: s.saveEvery > 0 ? s.saveEvery : undefined,
    outputDir: OUT,
    seed: s.seed,
    onEvent: (e) => {
      if (run?.trainer === trainer) {
        run.last = e;
        if (e.type === 'checkpoint' && e.checkpoint) run.unstored = { dir: e.checkpoint, step: e.step };
      }
      post({ event: 'train', e, totalSteps: trainer.totalSteps });
    },
  });
  const record = { key, totalSteps: trainer.totalSteps, model, data: data.id, method, options, settings: s, valBefore: null };
  run = { trainer, settings: s, record, stopAsked: false };
  return run;
}

/** A fresh run; reports val_loss before the first step as step 0. */
export async function startTraining(method: string, options: Record<string, unknown>, s: TrainSettings, post: Post): Promise<TrainSummary> {
  const r = await newRun(method, options, s, post);
  const before = await validationLoss(state.peft!);
  r.record.valBefore = before;
  if (before !== null) {
    const e: TrainEvent = { type: 'eval', step: 0, epoch: 0, val_loss: before, perplexity: Math.exp(before), elapsed_s: 0 };
    post({ event: 'train', e, totalSteps: r.trainer.totalSteps });
  }
  return continueTraining(post);
}

/** The newest run stored in this browser on the loaded model and data, if any. */
export async function storedRunFor(): Promise<StoredRun | null> {
  const model = state.model?.info.id;
  const data = state.data?.id;
  if (!model || !data) return null;
  return (await storedRuns()).find((r) => r.model === model && r.data === data && r.step < r.totalSteps) ?? null;
}

/**
 * Continues stored run `key`: its checkpoint folder is put back in the output folder, a Trainer of
 * the run's settings restores it (adapter weights, optimizer state, RNG, data position, loss
 * history) and trains on, as `peft train --resume` does.
 */
export async function resumeStored(key: string, post: Post): Promise<TrainSummary> {
  const stored = await readCheckpoint(key);
  if (!stored) throw new Error('that checkpoint is no longer stored in this browser; start the run again');
  const { run: s, files } = stored;
  const model = requireModel().info;
  if (s.model !== model.id) throw new Error(`the stored run trained ${s.model.split('|')[0]}, but ${model.name} is loaded`);
  if (s.data !== state.data?.id) throw new Error('the stored run trained on other data (or another max length / held-out split)');
  const r = await newRun(s.method, s.options, s.settings, post);
  r.record.valBefore = s.valBefore;
  const dir = `${OUT}/checkpoint-${s.step}`;
  for (const [name, bytes] of files) putFile(`${dir}/${name}`, bytes);
  putFile(`${OUT}/latest`, `checkpoint-${s.step}\n`);
  const t = await r.trainer.restore(OUT);
  const val = t.val_losses.map((p) => ({ step: p.step, value: p.loss }));
  if (s.valBefore !== null) val.unshift({ step: 0, value: s.valBefore });
  post({ event: 'history', loss: t.train_losses.map((p) => ({ step: p.step, value: p.loss })), val, totalSteps: r.trainer.totalSteps });
  return continueTraining(post);
}

/** Stores the checkpoint folder just written in the browser; a failure (quota) is reported, not fatal. */
async function store(r: Run, ck: { dir: string; step: number }, post: Post): Promise<void> {
  const files = new Map(listFiles(ck.dir).map((name) => [name, getFile(`${ck.dir}/${name}`)!]));
  const stored: StoredRun = { ...r.record, step: ck.step, savedAt: Date.now() };
  try {
    await storeCheckpoint(stored, files);
    post({ event: 'stored', run: stored });
  } catch (e) {
    post({ event: 'status', text: `warning: checkpoint ${ck.step} was not stored in the browser: ${(e as Error).message}` });
  }
}

/**
 * Whether Stop may end the run at the metrics line of `e`: after the step's last event, so that a
 * checkpoint (and evaluation) due at that step is written and stored first.
 */
function lastEventOfStep(e: TrainEvent, s: TrainSettings, evaluates: boolean): boolean {
  const saveDue = s.saveEvery > 0 && e.step % s.saveEvery === 0;
  const evalDue = evaluates && s.evalEvery > 0 && e.step % s.evalEvery === 0;
  if (e.type === 'checkpoint') return true;
  if (e.type === 'eval') return !saveDue;
  return e.type === 'step' && !saveDue && !evalDue;
}

/** Runs (or resumes) the current Trainer until it finishes or Stop is asked. */
export async function continueTraining(post: Post): Promise<TrainSummary> {
  const r = run;
  if (!r) throw new Error('nothing to resume: start a training run first');
  if (r.trainer.currentStep >= r.trainer.totalSteps) throw new Error('this run has finished; start a new one');
  r.stopAsked = false;
  const evaluates = !!state.data?.validation.length;
  // the Trainer awaits the metrics line of each event: checkpoints are stored, and Stop read, there
  setAppendGate(async () => {
    const ck = r.unstored;
    r.unstored = undefined;
    if (ck) await store(r, ck, post);
    if (r.stopAsked && r.last && r.trainer.currentStep < r.trainer.totalSteps && lastEventOfStep(r.last, r.settings, evaluates))
      throw new StopRequested();
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
