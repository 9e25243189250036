import * as tf from '@tensorflow/tfjs-core';
import {
  PeftModel,
  PeftRegistry,
  Rng,
  type AdapterRecord,
  type ModelOutput,
  type PeftBaseModel,
  type PeftConfigBase,
  type PeftMethod,
} from '@peftjs/core';
import { disposeInputs, forwardLogits, trainSteps, type TrainOptions } from '../helpers.js';
import { TEST_MODELS, type TestModelSpec } from '../models/index.js';
import { DEFAULT_TOLERANCES, type ConformanceCase, type ConformanceSpec, type ConformanceTolerances } from './spec.js';

const MODEL_SEED = 0;
const ADAPTER_SEED = 1234;
const EVAL_SEED = 100;

/**
 * One case set up for one check: a seeded base model wrapped in a PeftModel (its own registry
 * holding only the method under test) with the adapter "default" added, a batch to evaluate on,
 * and the base model's output taken before any adapter existed. `dispose()` frees all of it.
 */
export class ConformanceFixture<I = unknown> {
  readonly method: PeftMethod<PeftConfigBase>;
  readonly registry: PeftRegistry;
  readonly model: TestModelSpec<I>;
  readonly tolerances: ConformanceTolerances;
  readonly base: PeftBaseModel<I, ModelOutput>;
  /** The base model's variables, listed before the PeftModel wrapped it (the originals, even under `modules_to_save`). */
  readonly baseVariables: Array<[string, tf.Variable]>;
  /** A batch without labels. */
  readonly inputs: I;
  /** The base model's logits on `inputs`, before any adapter. */
  readonly baseLogits: tf.Tensor;
  readonly peft: PeftModel<I, ModelOutput>;
  private readonly cleanups: Array<() => void> = [];

  constructor(
    readonly spec: ConformanceSpec,
    readonly testCase: ConformanceCase,
  ) {
    this.method = spec.method;
    this.registry = new PeftRegistry().use(spec.method);
    this.model = (typeof testCase.model === 'string' ? TEST_MODELS[testCase.model] : testCase.model) as TestModelSpec<I>;
    this.tolerances = { ...DEFAULT_TOLERANCES, ...spec.tolerances };
    this.base = this.model.create(MODEL_SEED);
    this.cleanups.push(() => this.base.dispose());
    this.baseVariables = this.base.namedParameters();
    this.inputs = this.model.batch(this.base, { seed: EVAL_SEED, labels: false });
    this.cleanups.push(() => disposeInputs(this.inputs));
    this.baseLogits = this.track(forwardLogits(this.base, this.inputs));
    this.peft = this.wrap(this.base);
    this.addAdapter('default');
  }

  /** The adapter config of the case, `peft_type` filled in. */
  config(): Record<string, unknown> {
    return { peft_type: this.method.type, ...structuredClone(this.testCase.config) };
  }

  /** Adds an adapter with the case's config. */
  addAdapter(name: string, peft: PeftModel<I, ModelOutput> = this.peft): AdapterRecord {
    return peft.addAdapter(name, this.config());
  }

  adapter(name = 'default'): AdapterRecord {
    return this.peft.adapter(name);
  }

  /** A second base model equal to the first (same seed), wrapped, with no adapter. */
  freshPeft(): PeftModel<I, ModelOutput> {
    const base = this.model.create(MODEL_SEED);
    this.cleanups.push(() => base.dispose());
    return this.wrap(base);
  }

  /** Trains `adapter` (made active) on a labelled batch drawn with `dataSeed`; returns the losses. */
  train(adapter = 'default', dataSeed = 7, opts: TrainOptions = {}): number[] {
    this.peft.setAdapter(adapter);
    const batch = this.trainBatch(dataSeed);
    try {
      return trainSteps(this.peft, batch, { ...this.spec.train, ...opts });
    } finally {
      disposeInputs(batch);
    }
  }

  /** A labelled batch; dispose it with `disposeInputs` (or let the fixture do it). */
  trainBatch(dataSeed = 7, track = false): I {
    const batch = this.model.batch(this.base, { seed: dataSeed, labels: true });
    if (track) this.cleanups.push(() => disposeInputs(batch));
    return batch;
  }

  /** Logits of `peft` (default: the fixture's) on `inputs`, freed with the fixture. */
  logits(opts?: { adapterNames?: readonly string[] }, peft: PeftModel<I, ModelOutput> = this.peft): tf.Tensor {
    return this.track(forwardLogits(peft, this.inputs, opts));
  }

  /** The base variables not trained by the adapter (all of them unless e.g. a bias is trained). */
  frozenBaseVariables(record: AdapterRecord = this.adapter()): Array<[string, tf.Variable]> {
    const trained = new Set(record.baseParameters.values());
    return this.baseVariables.filter(([, v]) => !trained.has(v));
  }

  track<T extends tf.Tensor>(t: T): T {
    this.cleanups.push(() => t.dispose());
    return t;
  }

  onDispose(fn: () => void): void {
    this.cleanups.push(fn);
  }

  dispose(): void {
    for (const f of this.cleanups.reverse()) {
      try {
        f();
      } catch {
        // a check may already have disposed it
      }
    }
    this.cleanups.length = 0;
  }

  private wrap(base: PeftBaseModel<I, ModelOutput>): PeftModel<I, ModelOutput> {
    const peft = new PeftModel(base, { registry: this.registry, rng: new Rng(ADAPTER_SEED) });
    this.cleanups.push(() => peft.dispose());
    return peft;
  }
}
