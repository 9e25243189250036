import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './nn/module.js';

/**
 * Injection sites: the only places a PEFT method touches a model. A model exposes them;
 * a method attaches one hook per site per adapter name. Core never asks which method runs.
 */
export type SiteKind = 'linear' | 'inputEmbeddings' | 'attentionKV' | 'sublayerOutput';

/** Sizes a model declares so that methods can shape their parameters. */
export interface ModelDims {
  /** `model_type` of the Hugging Face config (`llama`, `gpt2`, `bert`, or a test model's name). */
  modelType: string;
  numLayers: number;
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
}

/** What every hook sees at call time. */
export interface HookContext {
  /** True while the PeftModel is in training mode (dropout on). */
  readonly training: boolean;
}

/** `linear` site: wraps a linear-like layer. `next(x)` runs the base layer (and adapters applied before this one). */
export interface LinearHook {
  forward(x: tf.Tensor, next: (x: tf.Tensor) => tf.Tensor, ctx: HookContext): tf.Tensor;
  /**
   * Optional fused path, used when this is the only active hook: the whole layer (base and
   * adapter, bias included) in one op such as `PeftLoraMatMul`. Return null to decline.
   */
  fused?(x: tf.Tensor, layer: Module, ctx: HookContext): tf.Tensor | null;
  /** Additive methods: ΔW in the base layer's own weight layout. Core derives merge/unmerge from it. */
  deltaWeight?(): tf.Tensor;
  /** Additive methods with a bias of their own (LoRA's `lora_bias`): Δb [out]. */
  deltaBias?(): tf.Tensor | undefined;
  /** Non-additive methods that can still merge: W → W' and back (e.g. (IA)³ scaling). */
  mergeWeight?(weight: tf.Tensor): tf.Tensor;
  unmergeWeight?(weight: tf.Tensor): tf.Tensor;
  /** Non-additive bias merge, beside `mergeWeight` (e.g. (IA)³ scaling an output: b → b·ℓ). */
  mergeBias?(bias: tf.Tensor): tf.Tensor;
  unmergeBias?(bias: tf.Tensor): tf.Tensor;
}

/** The token embeddings of a batch before the first block. */
export interface EmbeddingBatch {
  /** [B, T, D] token embeddings (before position embeddings, where the model has them). */
  embeds: tf.Tensor;
  /** [B, T] 1 = attend, 0 = padding. */
  attentionMask: tf.Tensor;
  /** [B, T] label ids, -100 = ignored; absent at inference. */
  labels?: tf.Tensor;
}

/**
 * `inputEmbeddings` site: may prepend virtual tokens; must then extend the mask with ones and
 * labels with -100 (`prependVirtualTokens` does both).
 */
export interface InputEmbeddingsHook {
  readonly numVirtualTokens: number;
  extend(batch: EmbeddingBatch, ctx: HookContext): EmbeddingBatch;
}

/** `attentionKV` site (one per layer): extra keys and values joined before the layer's own. */
export interface AttentionKVHook {
  readonly numVirtualTokens: number;
  /** key, value: [B, kvHeads, n, headDim]. */
  keyValue(batchSize: number, ctx: HookContext): { key: tf.Tensor; value: tf.Tensor };
}

/** `sublayerOutput` site (per layer, after attention and after the feed-forward block, before the residual add). */
export interface SublayerOutputHook {
  /** output: [B, T, D] the sublayer's output; input: [B, T, D] the sublayer's input (the residual stream). */
  forward(output: tf.Tensor, input: tf.Tensor, ctx: HookContext): tf.Tensor;
}

export interface SiteHooks {
  linear: LinearHook;
  inputEmbeddings: InputEmbeddingsHook;
  attentionKV: AttentionKVHook;
  sublayerOutput: SublayerOutputHook;
}

/** Shared by every site of one PeftModel: which adapters run. */
export interface AdapterControl {
  active: readonly string[];
  disabled: boolean;
  training: boolean;
}

export interface SiteInfo {
  /** Dotted module path of the site (`model.layers.0.self_attn.q_proj`) or a synthetic one for non-module sites. */
  path: string;
  /** Layer index for per-layer sites. */
  layer?: number;
  /** For `sublayerOutput`: after attention or after the feed-forward block. */
  position?: 'attention' | 'ffn';
}

const INERT: AdapterControl = { active: [], disabled: true, training: false };

/**
 * One injection site: the hooks attached to it, keyed by adapter name. A model creates the
 * slots; a PeftModel connects them to its `AdapterControl`.
 */
export class SiteSlot<K extends SiteKind = SiteKind> {
  readonly hooks = new Map<string, SiteHooks[K]>();
  /** The module owning each hook's parameters, by adapter name (set with the hook by `attach`). */
  readonly hookParams = new Map<string, Module>();
  control: AdapterControl = INERT;

  constructor(
    readonly kind: K,
    readonly info: SiteInfo,
    /** The layer a `linear` site belongs to. */
    readonly owner?: Module,
  ) {}

  /** Hooks of the active adapters, in activation order; empty when disabled. */
  activeHooks(): Array<SiteHooks[K]> {
    const c = this.control;
    if (c.disabled || this.hooks.size === 0) return [];
    const out: Array<SiteHooks[K]> = [];
    for (const name of c.active) {
      const h = this.hooks.get(name);
      if (h) out.push(h);
    }
    return out;
  }

  get context(): HookContext {
    return { training: this.control.training };
  }

  /**
   * The trainable variables of the active hooks' parameter modules: what a forward pass through
   * this site may need gradients for (activation recomputation passes them explicitly).
   */
  activeTrainableVariables(): tf.Variable[] {
    const c = this.control;
    if (c.disabled) return [];
    const out: tf.Variable[] = [];
    for (const name of c.active) {
      if (!this.hooks.has(name)) continue;
      for (const [, v] of this.hookParams.get(name)?.namedParameters() ?? []) if (v.trainable) out.push(v);
    }
    return out;
  }
}

/** The non-linear sites a model declares (linear sites are found by walking the module tree). */
export interface SiteTable {
  inputEmbeddings?: SiteSlot<'inputEmbeddings'>;
  /** One per layer. */
  attentionKV?: Array<SiteSlot<'attentionKV'>>;
  /** Two per layer: position 'attention' and 'ffn'. */
  sublayerOutput?: Array<SiteSlot<'sublayerOutput'>>;
}

/** The standard batch of a token model (all batch-first). */
export interface TokenBatch {
  /** [B, T] int32 token ids. */
  inputIds: tf.Tensor;
  /** [B, T] 1 = attend, 0 = padding; all ones when absent. */
  attentionMask?: tf.Tensor;
  /** Causal LM and token classification: [B, T] ids, -100 ignored. Sequence classification: [B]. */
  labels?: tf.Tensor;
  /** BERT segment ids [B, T]; zeros when absent. */
  tokenTypeIds?: tf.Tensor;
}

/** What a model returns: logits, and the loss when labels were given. */
export interface ModelOutput {
  logits: tf.Tensor;
  loss?: tf.Tensor;
}

/**
 * A model PEFT methods can adapt: a module tree with declared sizes and sites.
 * `forward` takes a record of batch-first tensors and returns batch-first output(s). The
 * defaults are the common case, a token model (`TokenBatch` in, `ModelOutput` out), which the
 * models of `@peftjs/models` implement directly.
 */
export interface PeftBaseModel<I = TokenBatch, O = ModelOutput> extends Module {
  readonly dims: ModelDims;
  readonly sites: SiteTable;
  forward(inputs: I): O;
  /** The output head's module path (`lm_head`, `classifier`), skipped by `all-linear`. */
  readonly outputHeadPaths?: readonly string[];
  /**
   * The linear layers an adapter targets when its config gives no `target_modules`: the
   * architecture's default in PEFT's per-model table (`q_proj`, `v_proj` for LLaMA; `c_attn` for GPT-2).
   */
  readonly defaultTargetModules?: readonly string[];
  /**
   * Where the model was loaded from (a folder or hub name; transformers' `name_or_path`). An adapter
   * config without `base_model_name_or_path` gets it, as PEFT writes it.
   */
  readonly nameOrPath?: string;
  /**
   * Activation recomputation (transformers' `gradient_checkpointing_enable()`), on models that offer
   * it: while training, each layer keeps only its input for the backward pass and runs its forward
   * again there. Absent on a model that cannot recompute its layers.
   */
  gradientCheckpointing?: boolean;
}

// ---- helpers a hook calls -------------------------------------------------------------

/**
 * Prepends the same virtual tokens to every row (Lester et al., §2), as the `inputEmbeddings`
 * contract asks: the mask gets ones in front, the labels -100 (never predicted).
 * prompts: [n, D]   embeds: [B, T, D]   →   embeds [B, n + T, D], mask [B, n + T], labels [B, n + T]
 */
export function prependVirtualTokens(batch: EmbeddingBatch, prompts: tf.Tensor): EmbeddingBatch {
  return tidyOut(() => {
    const { embeds, attentionMask, labels } = batch;
    const B = embeds.shape[0] as number;
    const n = prompts.shape[0] as number;
    // virtual: [B, n, D]
    const virtual = tf.tile(tf.expandDims(tf.cast(prompts, embeds.dtype), 0), [B, 1, 1]);
    const out: EmbeddingBatch = {
      embeds: tf.concat([virtual, embeds], 1),
      attentionMask: tf.concat([tf.ones([B, n], attentionMask.dtype), attentionMask], 1),
    };
    if (labels) out.labels = tf.concat([tf.fill([B, n], -100, labels.dtype), labels], 1);
    return out;
  });
}

/** `tf.tidy` for a function returning an interface of tensors (every tensor reachable from it is kept). */
function tidyOut<T extends object>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}

// ---- helpers a model calls from its forward --------------------------------------------

/** Runs the `inputEmbeddings` site over a batch (identity when no adapter is active). */
export function applyInputEmbeddings(slot: SiteSlot<'inputEmbeddings'> | undefined, batch: EmbeddingBatch): EmbeddingBatch {
  if (!slot) return batch;
  let b = batch;
  for (const h of slot.activeHooks()) b = h.extend(b, slot.context);
  return b;
}

/** Number of virtual tokens the active `inputEmbeddings` hooks will prepend. */
export function virtualTokenCount(slot: SiteSlot<'inputEmbeddings'> | undefined): number {
  return slot ? slot.activeHooks().reduce((n, h) => n + h.numVirtualTokens, 0) : 0;
}

/** Number of prefix positions the active `attentionKV` hooks add at a layer. */
export function prefixLength(slot: SiteSlot<'attentionKV'> | undefined): number {
  return slot ? slot.activeHooks().reduce((n, h) => n + h.numVirtualTokens, 0) : 0;
}

/**
 * The extra keys and values of the active `attentionKV` hooks at one layer, joined along the
 * sequence axis: key, value [B, kvHeads, n, headDim]; null when there are none.
 */
export function attentionPrefix(slot: SiteSlot<'attentionKV'> | undefined, batchSize: number): { key: tf.Tensor; value: tf.Tensor } | null {
  if (!slot) return null;
  const hooks = slot.activeHooks();
  if (hooks.length === 0) return null;
  const parts = hooks.map((h) => h.keyValue(batchSize, slot.context));
  if (parts.length === 1) return parts[0];
  return {
    key: tf.concat(
      parts.map((p) => p.key),
      2,
    ),
    value: tf.concat(
      parts.map((p) => p.value),
      2,
    ),
  };
}

/** Runs a `sublayerOutput` site (identity when no adapter is active). */
export function applySublayerOutput(slot: SiteSlot<'sublayerOutput'> | undefined, output: tf.Tensor, input: tf.Tensor): tf.Tensor {
  if (!slot) return output;
  let out = output;
  for (const h of slot.activeHooks()) out = h.forward(out, input, slot.context);
  return out;
}
