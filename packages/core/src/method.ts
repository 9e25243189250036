import type * as tf from '@tensorflow/tfjs-core';
import type { Module } from './nn/module.js';
import type { LinearLike } from './nn/layers.js';
import type { ModelDims, PeftBaseModel, SiteHooks, SiteKind, SiteSlot } from './sites.js';
import type { Rng } from './random.js';
import type { TargetRules } from './targets.js';
import type { PeftModel } from './peft-model.js';

/** The fields every PEFT config has (`adapter_config.json`), in PEFT's snake_case. */
export interface PeftConfigBase {
  peft_type: string;
  task_type?: string | null;
  base_model_name_or_path?: string | null;
  revision?: string | null;
  inference_mode?: boolean;
  /** Modules (suffix match) trained and saved whole next to the adapter, e.g. a classifier head. */
  modules_to_save?: string[] | null;
  /** Unknown keys are kept so that a config read from disk is written back equivalent. */
  [key: string]: unknown;
}

/**
 * Maps `peft_type` to its config type. Method packages extend it by declaration merging:
 * `declare module '@peftjs/core' { interface PeftConfigRegistry { LORA: LoraConfig } }`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface PeftConfigRegistry {}

export type PeftConfigFor<T extends string> = T extends keyof PeftConfigRegistry ? PeftConfigRegistry[T] : PeftConfigBase;

export interface PeftMethodMeta {
  /** Human name, e.g. "LoRA". */
  name: string;
  /** npm package that provides it, e.g. "@peftjs/lora". */
  packageName: string;
  /** Paper or reference. */
  reference?: string;
}

/** A linear site selected for injection. */
export interface LinearTarget {
  path: string;
  module: LinearLike;
}

export interface AttachOptions {
  /**
   * Prefix of the saved tensor names of this hook's parameters. Default:
   * `<method statePrefix><site path>.` (e.g. `base_model.model.model.layers.0.self_attn.q_proj.`).
   */
  keyPrefix?: string;
}

/** What a method's `inject` hook receives: the model, its sizes and typed access to its sites. */
export interface InjectionContext {
  readonly model: PeftBaseModel<never, unknown>;
  readonly dims: ModelDims;
  readonly adapterName: string;
  readonly rng: Rng;
  /** Linear sites matching PEFT's target rules; throws (naming the closest module names) when none match. */
  selectLinear(rules: TargetRules, field?: string): LinearTarget[];
  /**
   * `target_modules` as PEFT resolves it before saving: null → the model's `defaultTargetModules`
   * (an error naming the method and model type when it has none), `"all-linear"` → the names of
   * every linear layer but the output head; anything else as given.
   */
  resolveTargetModules(targetModules: string | readonly string[] | null): string | string[];
  /** A declared non-linear site; throws naming the model and the method when the model lacks it. */
  site<K extends Exclude<SiteKind, 'linear'>>(kind: K): K extends 'inputEmbeddings' ? SiteSlot<'inputEmbeddings'> : Array<SiteSlot<K>>;
  /**
   * Trains a base-model parameter with this adapter (PEFT's `bias="all"`/`"lora_only"`): it becomes
   * trainable while the adapter is active and is saved under `<statePrefix><savedPath ?? path>`.
   * Never disposed by the adapter.
   */
  trainBaseParameter(path: string, savedPath?: string): void;
  /** Attaches a hook for this adapter at a site; `params` owns the hook's parameters. */
  attach<K extends SiteKind>(slot: SiteSlot<K>, hook: SiteHooks[K], params: Module, opts?: AttachOptions): void;
}

/** How a method parses and writes its config. */
export interface MethodConfigSpec<C extends PeftConfigBase> {
  /** Validates a raw config (from JSON or code), fills PEFT's defaults; errors name the field. */
  parse(raw: Record<string, unknown>): C;
  /** The config as PEFT writes it (every field); default: the config object itself. */
  toJSON?(config: C): Record<string, unknown>;
  /** Fields Python writes as floats (`0.0`, not `0`), so that the saved JSON is PEFT's byte for byte. */
  floatFields?: readonly string[];
  /**
   * Every config field name the method accepts (PEFT's names, base fields included), e.g. from
   * `defineConfigFields(...).fields`. When given, `PeftModel.addAdapter` refuses a config made in
   * code with any other key, naming the closest of these; tools (the CLI) check options against it.
   * A config read from a file keeps unknown keys (files from newer PEFT versions).
   */
  fields?: readonly string[];
}

/** State a method saves besides its hook parameters (or instead of them), by saved tensor name. */
export interface MethodStateSpec<C extends PeftConfigBase> {
  /** Tensors for `adapter_model.safetensors`; default: every hook parameter under its key prefix. */
  save?(adapter: AdapterRecord<C>): Map<string, tf.Tensor>;
  /** Loads tensors read from `adapter_model.safetensors`; default: assign by the same names. */
  load?(adapter: AdapterRecord<C>, tensors: Map<string, tf.Tensor>, file: string): void;
  /** Extra files written beside the adapter (e.g. a prompt encoder PEFT does not keep), relative names. */
  extraFiles?(adapter: AdapterRecord<C>): Map<string, Uint8Array>;
  /** Names of the extra files `loadExtraFiles` reads when they exist. */
  extraFileNames?: readonly string[];
  /** Reads the extra files back when present (awaited: a check may read tensors with `await data()`). */
  loadExtraFiles?(adapter: AdapterRecord<C>, files: Map<string, Uint8Array>): void | Promise<void>;
}

/** One hook attached for one adapter. */
export interface AttachedHook {
  kind: SiteKind;
  slot: SiteSlot;
  hook: SiteHooks[SiteKind];
  params: Module;
  keyPrefix: string;
}

/** An adapter living in a PeftModel. */
export interface AdapterRecord<C extends PeftConfigBase = PeftConfigBase> {
  readonly name: string;
  readonly method: PeftMethod<C>;
  readonly config: C;
  readonly hooks: AttachedHook[];
  /** Base-model parameters trained with this adapter, by saved path (without the state prefix). */
  readonly baseParameters: Map<string, tf.Variable>;
  /** Trainable copies of `modules_to_save` modules: module path → (param name → variable). */
  readonly savedModules: Map<string, Map<string, tf.Variable>>;
}

/** What a training hook sees. */
export interface TrainingHookContext<I = unknown, O = unknown> {
  /** The model being trained (generic: hooks read parameters and adapters, not batches). */
  readonly model: PeftModel<I, O>;
  /** Optimizer steps taken before this one (0 on the first step). */
  readonly step: number;
  /** The run's planned number of optimizer steps (schedules, AdaLoRA's budget). */
  readonly totalSteps: number;
  /** For a method's hooks: the adapter they run for; absent for hooks given to the Trainer directly. */
  readonly adapterName?: string;
}

export interface StepEndInfo {
  /** The mean training loss of the step (NaN when skipped). */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** True when the step was skipped for a non-finite loss or gradients (no update). */
  skipped: boolean;
}

/**
 * How a method (or a user) takes part in training. The Trainer calls the hooks of each active,
 * trainable adapter's method, knowing no method by name.
 */
export interface TrainingHooks {
  /** An extra term added to each micro-batch's loss inside the gradient computation (AdaLoRA's orthogonal regulariser). */
  extraLoss?(ctx: TrainingHookContext): tf.Scalar | null | undefined;
  /**
   * The step's gradients (accumulated and clipped), by parameter name as in
   * `PeftModel.trainableParameters()`, before they are disposed. Not called on skipped steps.
   * Do not dispose them.
   */
  onGradients?(grads: ReadonlyMap<string, tf.Tensor>, ctx: TrainingHookContext): void;
  /** After every step, skipped or not (AdaLoRA's rank allocation). */
  onStepEnd?(info: StepEndInfo, ctx: TrainingHookContext): void;
}

export interface PeftMethodDefinition<C extends PeftConfigBase> {
  meta: PeftMethodMeta;
  /** `peft_type` of PEFT's adapter_config.json (e.g. "LORA"). */
  type: string;
  /** Sites the method needs; injection fails naming model and method when one is missing. */
  sites: readonly SiteKind[];
  config: MethodConfigSpec<C>;
  hooks: {
    /** Creates the per-site state of one adapter and attaches it. */
    inject(ctx: InjectionContext, config: C): void;
  };
  /** Saved names start with this (`base_model.model.` for tuners, `base_model.` for prompt learning). */
  statePrefix?: string;
  state?: MethodStateSpec<C>;
  /** Why the method cannot be merged into the base weights (absent = mergeable through its linear hooks). */
  notMergeable?: string;
  /** Optional participation in training (extra loss, gradient callback, step end). */
  training?: TrainingHooks;
}

export interface PeftMethod<C extends PeftConfigBase = PeftConfigBase> extends Readonly<PeftMethodDefinition<C>> {
  readonly statePrefix: string;
  readonly __peftMethod: true;
}

/** Makes a PEFT method: a plain, typed value. Register it with `registry.use(method)`. */
export function definePeftMethod<C extends PeftConfigBase>(def: PeftMethodDefinition<C>): PeftMethod<C> {
  if (!def.type || typeof def.type !== 'string') throw new Error('definePeftMethod: `type` (the peft_type string) is required');
  if (!def.meta?.name) throw new Error(`definePeftMethod(${def.type}): meta.name is required`);
  if (typeof def.hooks?.inject !== 'function') throw new Error(`definePeftMethod(${def.type}): hooks.inject must be a function`);
  if (typeof def.config?.parse !== 'function') throw new Error(`definePeftMethod(${def.type}): config.parse must be a function`);
  return Object.freeze({ ...def, statePrefix: def.statePrefix ?? 'base_model.model.', __peftMethod: true as const });
}
