import * as tf from '@tensorflow/tfjs-core';
import { getGlobalRng, type Rng } from './random.js';
import { registry as defaultRegistry, type PeftRegistry } from './registry.js';
import type { AdapterControl, ModelOutput, PeftBaseModel, TokenBatch } from './sites.js';
import type { AdapterRecord, PeftConfigBase } from './method.js';
import { ModulesToSave, implicitModulesToSave } from './modules-to-save.js';
import { mixedBatchForward } from './mixed-batch.js';
import { mergeAdapter, mergeAdapterAsync, unmergeAdapter } from './merge.js';
import { allSiteSlots, checkSites, injectionContext } from './injection.js';
import { checkBaseFields, checkKnownFields } from './config-fields.js';
import { closestNames } from './targets.js';
import { countParameters, peftNamedParameters, trainableParametersLine, type ParameterCount } from './peft-parameters.js';

export interface PeftModelOptions {
  registry?: PeftRegistry;
  rng?: Rng;
}

export interface AddAdapterOptions {
  /** False loads an adapter frozen, for inference (PEFT's `is_trainable=False`). Default true. */
  trainable?: boolean;
  /**
   * Keep config keys the method does not declare instead of refusing them (a config read from an
   * `adapter_config.json`, maybe from a newer PEFT: they are written back). Default false.
   */
  keepUnknownFields?: boolean;
}

/** The name that runs the base model for a row in a mixed batch. */
export const BASE_ADAPTER = '__base__';

/**
 * A base model with named adapters: add, switch, combine, disable, merge, save and load them.
 * Methods reach the model only through its sites; this class never asks which method runs.
 * `I`/`O` are the base model's batch and output; the defaults fit a token model (`TokenBatch`
 * in, `ModelOutput` out), so `new PeftModel(model)` of any `@peftjs/models` model needs no cast.
 * Code that works on any PeftModel (saving, training hooks) is generic over `I` and `O`.
 */
export class PeftModel<I = TokenBatch, O = ModelOutput> {
  readonly control: AdapterControl = { active: [], disabled: false, training: false };
  private readonly records = new Map<string, AdapterRecord>();
  private readonly trainableAdapters = new Set<string>();
  private requested: string[] = [];
  private readonly merged: string[] = [];
  private readonly registry: PeftRegistry;
  /** The generator adapters draw their initialisation and dropout masks from (checkpointed by the Trainer). */
  readonly rng: Rng;
  private readonly modulesToSave: ModulesToSave;

  constructor(
    readonly base: PeftBaseModel<I, O>,
    opts: PeftModelOptions = {},
  ) {
    this.registry = opts.registry ?? defaultRegistry;
    this.rng = opts.rng ?? getGlobalRng();
    this.modulesToSave = new ModulesToSave(base);
    for (const slot of allSiteSlots(this.base)) slot.control = this.control;
    base.requiresGrad(false);
  }

  // ---- adapters ------------------------------------------------------------------------

  /** Names of all adapters, in the order they were added. */
  get adapterNames(): string[] {
    return [...this.records.keys()];
  }

  get activeAdapters(): string[] {
    return [...this.requested];
  }

  get mergedAdapters(): string[] {
    return [...this.merged];
  }

  adapter(name: string): AdapterRecord {
    const r = this.records.get(name);
    if (!r) throw new Error(`Adapter "${name}" not found; adapters: ${this.adapterNames.join(', ') || 'none'}`);
    return r;
  }

  /** Whether an adapter was added for training (false for one loaded for inference). */
  isTrainable(name: string): boolean {
    this.adapter(name);
    return this.trainableAdapters.has(name);
  }

  /** The parsed config of an adapter (PEFT's fields). */
  config(name = this.requested[0] ?? 'default'): PeftConfigBase {
    return this.adapter(name).config;
  }

  /**
   * Adds an adapter from a config (`peft_type` picks the method from the registry). The first
   * adapter becomes active. Nothing changes if the config or the injection is invalid.
   */
  addAdapter(name: string, rawConfig: PeftConfigBase | Record<string, unknown>, opts: AddAdapterOptions = {}): AdapterRecord {
    if (!name || name === BASE_ADAPTER || name.includes('.')) throw new Error(`Invalid adapter name "${name}"`);
    if (this.records.has(name)) throw new Error(`Adapter "${name}" already exists`);
    const type = (rawConfig as { peft_type?: unknown }).peft_type;
    if (typeof type !== 'string') throw new Error('adapter config: peft_type must be a string');
    const method = this.registry.get(type);
    if (method.config.fields && !opts.keepUnknownFields) {
      checkKnownFields(method.meta.name, rawConfig, method.config.fields, (key, names) => closestNames([key], names));
    }
    const config = method.config.parse({ ...rawConfig });
    checkBaseFields(method.meta.name, config);
    if (config.base_model_name_or_path == null && this.base.nameOrPath) config.base_model_name_or_path = this.base.nameOrPath;
    const record: AdapterRecord = { name, method, config, hooks: [], baseParameters: new Map(), savedModules: new Map() };
    try {
      checkSites(this.base, method);
      method.hooks.inject(injectionContext(this.base, record, this.rng), config);
      const mts = config.modules_to_save ?? [];
      const implicit = implicitModulesToSave(config.task_type);
      if (mts.length > 0 || implicit.length > 0) this.modulesToSave.add(record, mts, implicit);
    } catch (e) {
      this.detach(record);
      throw e;
    }
    this.records.set(name, record);
    if (opts.trainable ?? true) this.trainableAdapters.add(name);
    if (this.requested.length === 0) this.setAdapter(name);
    else this.refresh();
    return record;
  }

  /** Makes one adapter, or several at once (their hooks run in this order), the active ones. */
  setAdapter(names: string | readonly string[]): void {
    const list = typeof names === 'string' ? [names] : [...names];
    for (const n of list) this.adapter(n);
    this.requested = list;
    this.refresh();
  }

  /** Deletes an adapter and its parameters. */
  deleteAdapter(name: string): void {
    const record = this.adapter(name);
    if (this.merged.includes(name)) throw new Error(`Adapter "${name}" is merged; unmerge it before deleting`);
    this.detach(record);
    this.records.delete(name);
    this.trainableAdapters.delete(name);
    this.requested = this.requested.filter((n) => n !== name);
    if (this.requested.length === 0 && this.records.size > 0) this.requested = [this.adapterNames[0]];
    this.refresh();
  }

  /**
   * Runs `fn` with every adapter disabled (the base model), restoring the previous state
   * afterwards even when `fn` throws or its promise rejects. Merged adapters are unmerged for the
   * duration and merged back after.
   */
  disableAdapter<T>(fn: () => T): T {
    const wasDisabled = this.control.disabled;
    const remerge = [...this.merged];
    if (remerge.length) this.unmerge();
    this.control.disabled = true;
    this.modulesToSave.activate(null);
    const restore = () => {
      this.control.disabled = wasDisabled;
      if (remerge.length) this.merge(remerge);
      this.refresh();
    };
    let out: T;
    try {
      out = fn();
    } catch (e) {
      restore();
      throw e;
    }
    if (out instanceof Promise) {
      return out.finally(restore) as T;
    }
    restore();
    return out;
  }

  // ---- forward ---------------------------------------------------------------------------

  /**
   * Runs the model with the active adapters. With `adapterNames` (one per batch row, `__base__`
   * for none) each row runs with its own adapter: a mixed batch.
   */
  forward(inputs: I, opts: { adapterNames?: readonly string[] } = {}): O {
    if (!opts.adapterNames) return this.base.forward(inputs);
    if (this.merged.length) throw new Error('A mixed-batch forward cannot run while adapters are merged; unmerge first');
    for (const n of new Set(opts.adapterNames)) if (n !== BASE_ADAPTER) this.adapter(n);
    return mixedBatchForward(inputs, opts.adapterNames, (sub, name) => {
      if (name === BASE_ADAPTER) return this.disableAdapter(() => this.base.forward(sub as I));
      const saved = this.requested;
      this.setAdapter(name);
      try {
        return this.base.forward(sub as I);
      } finally {
        this.setAdapter(saved);
      }
    }) as O;
  }

  /** Whether the model is in training mode (dropout on): set by `train()` / `eval()`. */
  get training(): boolean {
    return this.control.training;
  }

  train(mode = true): this {
    this.base.train(mode);
    this.control.training = mode;
    for (const r of this.records.values()) for (const h of r.hooks) h.params.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  // ---- parameters ------------------------------------------------------------------------

  /**
   * Every parameter: the base model's and each adapter's, with PEFT-style names (adapter
   * parameters carry the adapter name: `…q_proj.lora_A.default.weight`).
   */
  namedParameters(): Array<[string, tf.Variable]> {
    return peftNamedParameters(this.base, this.modulesToSave, this.records.values());
  }

  /** The variables an optimizer should update. */
  trainableParameters(): Array<[string, tf.Variable]> {
    return this.namedParameters().filter(([, v]) => v.trainable);
  }

  /** Trainable and total parameter counts, as PEFT counts them. */
  countParameters(): ParameterCount {
    return countParameters(this.namedParameters());
  }

  /** PEFT's line: `trainable params: 8,192 || all params: 1,234,567 || trainable%: 0.6636`. Returns it too. */
  printTrainableParameters(log: (line: string) => void = console.log): string {
    const line = trainableParametersLine(this.countParameters());
    log(line);
    return line;
  }

  // ---- merging ---------------------------------------------------------------------------

  /**
   * Merges adapters (default: the active ones) into the base weights. With `safe`, the merged
   * weights are checked for NaN/Inf first and nothing changes if any is found.
   */
  merge(names: readonly string[] = this.requested, opts: { safe?: boolean } = {}): void {
    for (const n of this.toMerge(names)) {
      mergeAdapter(this.adapter(n), opts);
      this.merged.push(n);
    }
    this.refresh();
  }

  /**
   * `merge` whose safe check reads the merged weights with `await data()`: the form that works on
   * every backend (WebGPU in Node or in a Web Worker refuses synchronous reads).
   */
  async mergeAsync(names: readonly string[] = this.requested, opts: { safe?: boolean } = {}): Promise<void> {
    try {
      for (const n of this.toMerge(names)) {
        await mergeAdapterAsync(this.adapter(n), opts);
        this.merged.push(n);
      }
    } finally {
      this.refresh();
    }
  }

  /** The adapters of `names` not merged yet; throws first if any of them cannot be merged. */
  private toMerge(names: readonly string[]): string[] {
    const todo = names.filter((n) => !this.merged.includes(n));
    for (const n of todo) {
      const r = this.adapter(n);
      if (r.method.notMergeable) throw new Error(`${r.method.meta.name} adapter "${n}" cannot be merged: ${r.method.notMergeable}`);
    }
    return todo;
  }

  /** `merge(names, { safe: true })`. */
  safeMerge(names: readonly string[] = this.requested): void {
    this.merge(names, { safe: true });
  }

  /** `mergeAsync(names, { safe: true })`. */
  safeMergeAsync(names: readonly string[] = this.requested): Promise<void> {
    return this.mergeAsync(names, { safe: true });
  }

  /** Reverses every merge, most recent first. */
  unmerge(): void {
    while (this.merged.length) {
      const n = this.merged.pop()!;
      unmergeAdapter(this.adapter(n));
    }
    this.refresh();
  }

  /** Merges the active adapters and removes every adapter: returns the plain base model. */
  mergeAndUnload(opts: { safe?: boolean } = {}): PeftBaseModel<I, O> {
    this.merge(this.requested, opts);
    return this.unloadAll(true);
  }

  /** `mergeAndUnload` with `mergeAsync`'s reads (every backend). */
  async mergeAndUnloadAsync(opts: { safe?: boolean } = {}): Promise<PeftBaseModel<I, O>> {
    await this.mergeAsync(this.requested, opts);
    return this.unloadAll(true);
  }

  /** Removes every adapter without merging: returns the plain base model. */
  unload(): PeftBaseModel<I, O> {
    if (this.merged.length) this.unmerge();
    return this.unloadAll(false);
  }

  /** Disposes the adapters (not the base model). */
  dispose(): void {
    for (const r of this.records.values()) this.detach(r);
    this.records.clear();
    this.modulesToSave.restoreAll();
  }

  // ---- internals -----------------------------------------------------------------------

  private unloadAll(keepMerged: boolean): PeftBaseModel<I, O> {
    const active = this.requested[0];
    this.modulesToSave.unload(active ? this.records.get(active) : undefined);
    for (const r of this.records.values()) this.detach(r, { keepSavedModules: true });
    this.records.clear();
    this.requested = [];
    if (keepMerged) this.merged.length = 0;
    this.control.active = [];
    for (const slot of allSiteSlots(this.base)) slot.control = { active: [], disabled: true, training: false };
    this.base.requiresGrad(true);
    return this.base;
  }

  /** Recomputes what runs: active minus merged, trainable flags, modules_to_save copies. */
  private refresh(): void {
    this.control.active = this.requested.filter((n) => !this.merged.includes(n));
    for (const r of this.records.values()) {
      const trainable = this.trainableAdapters.has(r.name) && this.requested.includes(r.name);
      for (const h of r.hooks) h.params.requiresGrad(trainable);
      for (const v of r.baseParameters.values()) v.trainable = false;
      for (const params of r.savedModules.values()) for (const v of params.values()) v.trainable = trainable;
    }
    for (const r of this.records.values()) {
      if (this.trainableAdapters.has(r.name) && this.requested.includes(r.name))
        for (const v of r.baseParameters.values()) v.trainable = true;
    }
    if (!this.control.disabled) {
      const first = this.requested.find((n) => this.records.get(n)?.savedModules.size);
      this.modulesToSave.activate(first ? this.records.get(first)! : null);
    }
  }

  private detach(record: AdapterRecord, opts: { keepSavedModules?: boolean } = {}): void {
    for (const h of record.hooks) {
      (h.slot.hooks as Map<string, unknown>).delete(record.name);
      h.slot.hookParams.delete(record.name);
      h.params.dispose();
    }
    record.hooks.length = 0;
    for (const v of record.baseParameters.values()) v.trainable = false;
    record.baseParameters.clear();
    if (!opts.keepSavedModules) this.modulesToSave.remove(record);
  }
}

/** `getPeftModel(model, config)`: wraps a base model and adds its first adapter. */
export function getPeftModel<I, O>(
  model: PeftBaseModel<I, O>,
  config: PeftConfigBase | Record<string, unknown>,
  adapterName = 'default',
  opts: PeftModelOptions = {},
): PeftModel<I, O> {
  const peft = new PeftModel(model, opts);
  peft.addAdapter(adapterName, config);
  return peft;
}
