import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeftModel, PeftRegistry, definePeftMethod, fromPretrained, saveAdapter } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import {
  AdamW,
  Trainer,
  parseMetrics,
  saveCheckpoint,
  type TrainEvent,
  type TrainerState,
  type TrainingHooks,
  type EncodedExample,
} from '../src/index.js';
import { TinyClassifier, TinyLM, textExamples, withLora } from './helpers.js';

afterEach(() => tf.disposeVariables());

const tmp = () => mkdtemp(join(tmpdir(), 'peftjs-train-'));
const values = (v: tf.Tensor) => Array.from(v.dataSync());
const snapshot = (peft: PeftModel) => peft.trainableParameters().map(([n, v]) => [n, values(v)] as const);

function lmTrainer(extra: Partial<ConstructorParameters<typeof Trainer>[0]> = {}, setup = {}) {
  const model = withLora(new TinyLM(), setup);
  return new Trainer({
    model,
    trainData: textExamples(16),
    batchSize: 4,
    learningRate: 1e-2,
    maxSteps: 20,
    schedule: 'constant',
    ...extra,
  });
}

describe('Trainer: training', () => {
  it('lowers the training loss of a tiny LoRA model', async () => {
    const t = lmTrainer({ maxSteps: 40 });
    const r = await t.train();
    const first = r.trainLosses.slice(0, 4).reduce((s, p) => s + p.loss, 0) / 4;
    const last = r.trainLosses.slice(-4).reduce((s, p) => s + p.loss, 0) / 4;
    expect(r.step).toBe(40);
    expect(last).toBeLessThan(first * 0.9);
    t.dispose();
  });

  it('updates only the adapter: the base weights are untouched', async () => {
    const t = lmTrainer({ maxSteps: 5 });
    const base = t.model.base.namedParameters().map(([n, v]) => [n, values(v)] as const);
    await t.train();
    for (const [n, v] of t.model.base.namedParameters()) expect(values(v), n).toEqual(base.find(([m]) => m === n)![1]);
    t.dispose();
  });

  it("gradientCheckpointing sets the base model's activation recomputation, and refuses a model without it", () => {
    const offering = Object.assign(new TinyLM(), { gradientCheckpointing: false });
    const t = new Trainer({ model: withLora(offering), trainData: textExamples(4), gradientCheckpointing: true });
    expect(offering.gradientCheckpointing).toBe(true);
    t.dispose();
    expect(() => lmTrainer({ gradientCheckpointing: true })).toThrow(
      /gradientCheckpointing: model tiny-lm offers no activation recomputation/,
    );
  });

  it('gives identical losses for two runs with the same seed (dropout included)', async () => {
    const run = async () => {
      const t = lmTrainer({ seed: 5, maxSteps: 8 }, { dropout: 0.2 });
      const r = await t.train();
      t.dispose();
      tf.disposeVariables();
      return r.trainLosses.map((p) => p.loss);
    };
    const a = await run();
    expect(await run()).toEqual(a);
  });

  it('accumulating 2 micro-batches of 2 matches one batch of 4', async () => {
    const data = textExamples(8); // equal lengths: the mean over 4 rows is the mean of two means
    const run = async (batchSize: number, accum: number) => {
      const t = new Trainer({
        model: withLora(new TinyLM()),
        trainData: data,
        batchSize,
        gradientAccumulationSteps: accum,
        maxSteps: 3,
        learningRate: 1e-2,
      });
      const r = await t.train();
      const out = { losses: r.trainLosses.map((p) => p.loss), params: snapshot(t.model) };
      t.dispose();
      tf.disposeVariables();
      return out;
    };
    const a = await run(4, 1);
    const b = await run(2, 2);
    a.losses.forEach((l, i) => expect(b.losses[i]).toBeCloseTo(l, 5));
    a.params.forEach(([, v], i) => v.forEach((x, j) => expect(b.params[i][1][j]).toBeCloseTo(x, 5)));
  });

  it('reports the pre-clip gradient norm and clips the update to maxGradNorm', async () => {
    const events: TrainEvent[] = [];
    const t = lmTrainer({ maxSteps: 1, maxGradNorm: 1e-3, optimizer: 'sgd', learningRate: 1, onEvent: (e) => events.push(e) });
    const before = snapshot(t.model);
    await t.train();
    const norm = events.find((e) => e.type === 'step')!.grad_norm!;
    expect(norm).toBeGreaterThan(1e-2);
    // with SGD and lr 1 the update is the clipped gradient: its global norm is maxGradNorm
    const after = snapshot(t.model);
    let sq = 0;
    before.forEach(([, v], i) => v.forEach((x, j) => (sq += (after[i][1][j] - x) ** 2)));
    expect(Math.sqrt(sq)).toBeCloseTo(1e-3, 5);
    t.dispose();
  });

  it('follows the warmup schedule: the first update uses lr 0, as transformers', async () => {
    const events: TrainEvent[] = [];
    const t = lmTrainer({ maxSteps: 4, warmupSteps: 2, schedule: 'linear', onEvent: (e) => events.push(e) });
    const before = snapshot(t.model);
    await t.train();
    expect(events.filter((e) => e.type === 'step').map((e) => e.lr)).toEqual([0, 0.005, 0.01, 0.005]);
    expect(snapshot(t.model)).not.toEqual(before);
    t.dispose();
  });
});

describe('Trainer: evaluation and early stopping', () => {
  it('evaluates every N steps and at the end, with perplexity = exp(val_loss)', async () => {
    const events: TrainEvent[] = [];
    const t = lmTrainer({ maxSteps: 7, evalEvery: 3, evalData: textExamples(4, 9), onEvent: (e) => events.push(e) });
    await t.train();
    const evals = events.filter((e) => e.type === 'eval');
    expect(evals.map((e) => e.step)).toEqual([3, 6, 7]);
    for (const e of evals) expect(e.perplexity).toBeCloseTo(Math.exp(e.val_loss!), 10);
    t.dispose();
  });

  it('reports classification accuracy, which rises on a learnable task', async () => {
    const data: EncodedExample[] = Array.from({ length: 16 }, (_, i) => ({ inputIds: i % 2 ? [3, 4, 5] : [20, 21, 22], labels: i % 2 }));
    const model = withLora(new TinyClassifier(), { targets: ['q_proj'] });
    const t = new Trainer({ model, trainData: data, evalData: data, batchSize: 8, learningRate: 5e-2, maxSteps: 30, schedule: 'constant' });
    const r = await t.train();
    expect(r.lastEval!.accuracy).toBe(1);
    expect(r.lastEval!.examples).toBe(16);
    t.dispose();
  });

  it('stops early when val_loss has not improved by minDelta for `patience` evaluations', async () => {
    const events: TrainEvent[] = [];
    const t = lmTrainer({
      maxSteps: 50,
      evalEvery: 1,
      evalData: textExamples(4, 9),
      earlyStopping: { patience: 2, minDelta: 10 },
      onEvent: (e) => events.push(e),
    });
    const r = await t.train();
    expect(r.stopReason).toBe('early-stopping');
    expect(r.step).toBe(3); // best at step 1, no 10-nat improvement at steps 2 and 3
    expect(r.message).toMatch(/^Early stopping at step 3/);
    expect(events.at(-1)!.type).toBe('stopped');
    t.dispose();
  });
});

describe('Trainer: non-finite steps', () => {
  const nanAt = (steps: Set<number>): TrainingHooks => ({ extraLoss: ({ step }) => (steps.has(step) ? tf.scalar(NaN) : null) });

  it('skips a step with a non-finite loss: no parameter update, optimizer state untouched, counted', async () => {
    const snaps: Array<{ params: ReturnType<typeof snapshot>; adam: number[][]; count: number }> = [];
    const record = () =>
      snaps.push({
        params: snapshot(t.model),
        adam: [...t.optimizer.getState().tensors.values()].map(values),
        count: t.optimizer.stepCount,
      });
    const t = lmTrainer({ maxSteps: 3, hooks: [nanAt(new Set([1])), { onStepEnd: record }] });
    const r = await t.train();
    expect(r.skippedSteps).toBe(1);
    expect(snaps[1].params).toEqual(snaps[0].params);
    expect(snaps[1].adam).toEqual(snaps[0].adam);
    expect(snaps[1].count).toBe(1);
    expect(snaps[2].params).not.toEqual(snaps[1].params);
    t.dispose();
  });

  it('stops after K non-finite steps in a row, naming the likely causes and keeping the last good checkpoint', async () => {
    const dir = await tmp();
    const bad = new Set([4, 5, 6, 7, 8, 9, 10]);
    const t = lmTrainer({ maxSteps: 20, saveEvery: 2, outputDir: dir, maxNonFiniteSteps: 3, hooks: nanAt(bad) });
    const r = await t.train();
    expect(r.stopReason).toBe('non-finite');
    expect(r.step).toBe(7);
    expect(r.message).toContain('3 steps in a row had a non-finite loss, gradients or updated weights');
    expect(r.message).toMatch(/learning rate \(0\.01\) is too high.*or bad data/);
    expect(r.message).toContain(`The last good checkpoint is ${dir}/checkpoint-4`);
    expect((await readFile(join(dir, 'latest'), 'utf8')).trim()).toBe('checkpoint-4');
    expect((await readdir(dir)).filter((f) => f.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-2', 'checkpoint-4']);
    t.dispose();
  });
});

describe('Trainer: poisoned updates', () => {
  /** AdamW whose update at one step uses a learning rate that overflows every parameter to ±Inf. */
  class PoisonAt extends AdamW {
    private calls = 0;
    constructor(
      params: ConstructorParameters<typeof AdamW>[0],
      readonly at: Set<number>,
    ) {
      super(params);
    }
    override step(grads: readonly tf.Tensor[], lr: number): void {
      super.step(grads, this.at.has(this.calls++) ? 1e39 : lr);
    }
  }
  const finite = (t: ReturnType<typeof lmTrainer>) => t.model.trainableParameters().every(([, v]) => values(v).every(Number.isFinite));

  it('rolls back an update that makes a parameter non-finite: parameters and optimizer state as before, counted as skipped', async () => {
    const snaps: Array<{ params: ReturnType<typeof snapshot>; adam: number[][]; count: number; skipped: boolean }> = [];
    const record = (info: { skipped: boolean }) =>
      snaps.push({
        params: snapshot(t.model),
        adam: [...t.optimizer.getState().tensors.values()].map(values),
        count: t.optimizer.stepCount,
        skipped: info.skipped,
      });
    const t = lmTrainer({ maxSteps: 4, optimizer: (p) => new PoisonAt(p, new Set([2])), hooks: { onStepEnd: record } });
    const r = await t.train();
    expect(snaps.map((s) => s.skipped)).toEqual([false, false, true, false]);
    expect(r.skippedSteps).toBe(1);
    expect(snaps[2].params).toEqual(snaps[1].params);
    expect(snaps[2].adam).toEqual(snaps[1].adam);
    expect(snaps[2].count).toBe(2);
    expect(snaps[3].params).not.toEqual(snaps[2].params);
    expect(finite(t)).toBe(true);
    t.dispose();
  });

  it('with a learning rate of 1e39 stops as non-finite with the initial weights kept and no checkpoint written', async () => {
    const dir = await tmp();
    const t = lmTrainer({ maxSteps: 10, learningRate: 1e39, saveEvery: 1, outputDir: dir, maxNonFiniteSteps: 3 });
    const before = snapshot(t.model);
    const r = await t.train();
    expect(r.stopReason).toBe('non-finite');
    expect(r.skippedSteps).toBe(3);
    expect(snapshot(t.model)).toEqual(before);
    expect(r.message).toContain('No checkpoint was written');
    expect((await readdir(dir)).filter((f) => f.startsWith('checkpoint-'))).toEqual([]);
    t.dispose();
  });
});

describe('Trainer: saves', () => {
  it('never writes a checkpoint of non-finite weights: refused naming the tensor, nothing on disk', async () => {
    const dir = await tmp();
    const t = lmTrainer({ maxSteps: 1 });
    const [name, v] = t.model.trainableParameters()[0];
    v.assign(tf.fill(v.shape, NaN));
    const state: TrainerState = {
      format: 'peftjs-trainer',
      version: 1,
      step: 1,
      epoch: 0,
      position: 0,
      seed: 42,
      rng_state: [],
      optimizer: t.optimizer.getState().info,
      adapters: ['default'],
      best_val_loss: null,
      evals_without_improvement: 0,
      non_finite_in_row: 0,
      skipped_steps: 0,
      elapsed_s: 0,
      train_losses: [],
      val_losses: [],
    };
    await expect(saveCheckpoint(dir, t.model, t.optimizer.getState(), state)).rejects.toThrow(/refusing to save non-finite weights/);
    expect(name).toMatch(/lora_[AB]/);
    expect(await readdir(dir)).toEqual([]);
    t.dispose();
  });

  it('an adapter save of another rank aborted at any rename loads as wholly the old adapter or wholly the new one', async () => {
    const dir = await tmp();
    const [small, big] = [withLora(new TinyLM(), { r: 2 }), withLora(new TinyLM(), { r: 4 })];
    const realRename = fsp.rename;
    const ranks = new Set<number>();
    for (let n = 1; n < 40; n++) {
      await saveAdapter(small, dir);
      let renames = 0;
      fsp.rename = (...a: Parameters<typeof realRename>) =>
        ++renames >= n ? Promise.reject(new Error(`killed at rename ${n}`)) : realRename(...a);
      syncBuiltinESMExports();
      const finished = await saveAdapter(big, dir).then(
        () => true,
        () => false,
      );
      fsp.rename = realRename;
      syncBuiltinESMExports();
      const loaded = await fromPretrained(new TinyLM(), dir, { registry: new PeftRegistry().use(lora) });
      const r = loaded.adapter('default').config.r as number;
      expect(
        loaded
          .namedParameters()
          .filter(([k]) => k.includes('lora_A'))
          .every(([, v]) => v.shape[0] === r),
        `abort at rename ${n}: weights of rank ${r}`,
      ).toBe(true);
      ranks.add(r);
      if (finished) break;
    }
    expect([...ranks].sort()).toEqual([2, 4]);
  });

  it('a second Trainer on an output folder another live process holds is refused, naming the pid', async () => {
    const dir = await tmp();
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await writeFile(join(dir, '.peftjs-lock'), JSON.stringify({ pid: holder.pid }));
      const t = lmTrainer({ maxSteps: 2, outputDir: dir });
      await expect(t.train()).rejects.toThrow(`is in use by another peftjs process (pid ${holder.pid}`);
      expect(await readdir(dir)).toEqual(['.peftjs-lock']);
      t.dispose();
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('Trainer: hooks', () => {
  it('adds the extraLoss term to the gradient and reports it apart from the loss', async () => {
    const events: TrainEvent[] = [];
    const l2: TrainingHooks = {
      extraLoss: ({ model }) => tf.mul(tf.addN(model.trainableParameters().map(([, v]) => tf.sum(tf.square(v)))), 1e-3) as tf.Scalar,
    };
    const t = lmTrainer({ maxSteps: 2, hooks: l2, onEvent: (e) => events.push(e) });
    const plain = lmTrainer({ maxSteps: 2 });
    const [a, b] = [await t.train(), await plain.train()];
    const step = events.find((e) => e.type === 'step')!;
    expect(step.extra_loss).toBeGreaterThan(0);
    expect(a.trainLosses[0].loss).toBeCloseTo(b.trainLosses[0].loss, 6);
    expect(snapshot(t.model)).not.toEqual(snapshot(plain.model));
    t.dispose();
    plain.dispose();
  });

  it("finds hooks on the adapter method's `training` property and shows them the named gradients", async () => {
    const seen: Array<{ step: number; adapter?: string; names: string[]; norm: number }> = [];
    const training: TrainingHooks = {
      onGradients: (grads, ctx) =>
        seen.push({
          step: ctx.step,
          adapter: ctx.adapterName,
          names: [...grads.keys()],
          norm: tf.tidy(() => tf.norm(grads.values().next().value!).dataSync()[0]),
        }),
    };
    const hooked = definePeftMethod({ ...lora, training });
    const model = withLora(new TinyLM(), { method: hooked });
    const t = new Trainer({ model, trainData: textExamples(8), batchSize: 4, maxSteps: 2 });
    await t.train();
    expect(seen.map((s) => s.step)).toEqual([0, 1]);
    expect(seen[0].adapter).toBe('default');
    expect(seen[0].names).toEqual(model.trainableParameters().map(([n]) => n));
    expect(seen[0].names[0]).toBe('q_proj.lora_A.default.weight');
    expect(seen[0].norm).toBeGreaterThan(0);
    t.dispose();
  });
});

describe('Trainer: outputs', () => {
  it('emits step events with loss, lr, grad_norm, tokens/s and elapsed, and appends them to metrics.jsonl', async () => {
    const dir = await tmp();
    const events: TrainEvent[] = [];
    const t = lmTrainer({ maxSteps: 3, outputDir: dir, evalData: textExamples(2, 9), onEvent: (e) => events.push(e) });
    await t.train();
    const step = events[0];
    expect(step).toMatchObject({ type: 'step', step: 1, epoch: 0, lr: 0.01 });
    for (const k of ['loss', 'grad_norm', 'tokens_per_sec', 'elapsed_s'] as const) expect(step[k]).toBeGreaterThan(0);
    const logged = parseMetrics(await readFile(join(dir, 'metrics.jsonl'), 'utf8'));
    expect(logged).toEqual(events);
    expect(logged.map((e) => e.type)).toEqual(['step', 'step', 'step', 'eval', 'checkpoint']);
    t.dispose();
  });

  it('awaits an async onEvent handler: its events are delivered one at a time, in order, all before train() resolves', async () => {
    const log: string[] = [];
    let resolved = false;
    const t = lmTrainer({
      maxSteps: 3,
      evalData: textExamples(2, 9),
      onEvent: async (e) => {
        log.push(`start ${e.type} ${e.step}`);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`${resolved ? 'late' : 'end'} ${e.type} ${e.step}`);
      },
    });
    await t.train();
    resolved = true;
    await new Promise((r) => setTimeout(r, 20));
    const events = ['step 1', 'step 2', 'step 3', 'eval 3'];
    expect(log).toEqual(events.flatMap((e) => [`start ${e}`, `end ${e}`]));
    t.dispose();
  });

  it('a rejecting onEvent handler fails the run with an error naming the handler, its error as cause', async () => {
    const fault = new Error('IndexedDB quota exceeded');
    const t = lmTrainer({
      maxSteps: 5,
      onEvent: async (e) => {
        await new Promise((r) => setTimeout(r, 1));
        if (e.step === 2) throw fault;
      },
    });
    const err = await t.train().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe('onEvent handler failed on the step event of step 2: IndexedDB quota exceeded');
    expect(err?.cause).toBe(fault);
    expect(t.currentStep).toBe(2);
    t.dispose();
  });

  it('writes checkpoints as PEFT adapter files + optimizer state + trainer_state.json, and `latest` last', async () => {
    const dir = await tmp();
    const t = lmTrainer({ maxSteps: 4, saveEvery: 2, outputDir: dir });
    await t.train();
    expect((await readdir(join(dir, 'checkpoint-4'))).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'optimizer.safetensors',
      'trainer_state.json',
    ]);
    expect((await readFile(join(dir, 'latest'), 'utf8')).trim()).toBe('checkpoint-4');
    const state = JSON.parse(await readFile(join(dir, 'checkpoint-2/trainer_state.json'), 'utf8'));
    expect(state).toMatchObject({ step: 2, epoch: 0, position: 8, seed: 42, adapters: ['default'], optimizer: { name: 'AdamW', step: 2 } });
    expect(state.rng_state).toHaveLength(4);
    const reloaded = await fromPretrained(new TinyLM(), join(dir, 'checkpoint-4'), { registry: new PeftRegistry().use(lora) });
    const live = new Map(t.model.trainableParameters().map(([n, v]) => [n, values(v)]));
    for (const [n, v] of reloaded.namedParameters().filter(([n]) => n.includes('lora_'))) expect(values(v)).toEqual(live.get(n));
    t.dispose();
  });

  it('restoring a checkpoint in-process continues with the same losses as an uninterrupted run', async () => {
    const dir = await tmp();
    const full = lmTrainer({ maxSteps: 10, seed: 3 }, { dropout: 0.1 });
    const want = (await full.train()).trainLosses;
    full.dispose();
    tf.disposeVariables();
    const first = lmTrainer(
      {
        maxSteps: 10,
        seed: 3,
        saveEvery: 4,
        outputDir: dir,
        onEvent: (e) => {
          if (e.type === 'checkpoint' && e.step === 4) throw new Error('stop');
        },
      },
      { dropout: 0.1 },
    );
    await expect(first.train()).rejects.toThrow('stop');
    first.dispose();
    tf.disposeVariables();
    const second = lmTrainer({ maxSteps: 10, seed: 3, saveEvery: 4, outputDir: dir }, { dropout: 0.1 });
    const got = (await second.resume(dir)).trainLosses;
    expect(got.map((p) => p.step)).toEqual(want.map((p) => p.step));
    got.forEach((p, i) => expect(Math.abs(p.loss - want[i].loss)).toBeLessThan(1e-6));
    second.dispose();
  });
});

describe('Trainer: memory', () => {
  it('keeps tf.memory().numTensors constant between step 10 and step 200', async () => {
    const counts = new Map<number, number>();
    const t = lmTrainer({
      maxSteps: 200,
      gradientAccumulationSteps: 2,
      batchSize: 2,
      hooks: { onStepEnd: (_, { step }) => counts.set(step + 1, tf.memory().numTensors) },
    });
    await t.train();
    expect(counts.get(200)).toBe(counts.get(10));
    t.dispose();
  });

  it('disposes everything it created: back to the tensor count before it was made', async () => {
    const model = withLora(new TinyLM());
    const before = tf.memory().numTensors;
    const t = new Trainer({ model, trainData: textExamples(8), evalData: textExamples(2, 9), batchSize: 4, maxSteps: 5, evalEvery: 2 });
    await t.train();
    t.evaluate();
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
