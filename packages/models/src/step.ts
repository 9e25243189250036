import * as tf from '@tensorflow/tfjs-core';
import { attentionPrefix, prefixLength, type Module, type SiteSlot, type TokenBatch } from '@peftjs/core';
import { KVCache } from './cache.js';
import { attentionBias, causalLmLoss, type MaskRule } from './ops.js';
import { chunkedCausalLmLoss } from './chunked-loss.js';
import { callChild } from './site-table.js';

/** The batch the models here take: core's `TokenBatch` plus decoding state. */
export interface ModelBatch extends TokenBatch {
  /**
   * [B, T] explicit position ids of the tokens after any virtual tokens (optional). By default
   * positions run from the past length (prefix length + cached tokens), as transformers does.
   */
  positionIds?: tf.Tensor;
  /** Key/value cache for incremental decoding (decoders only); updated in place. */
  cache?: KVCache;
  /** Causal LMs: compute logits for the last k positions only (generation needs 1); no loss then. */
  logitsToKeep?: number;
  /**
   * Causal LMs with labels: compute only the loss, the LM head and cross-entropy over chunks of this
   * many vocabulary entries (`chunkedCausalLmLoss`), never the full [B, T, V] logits; `logits` is then
   * empty ([B, 0, V]). For vocabularies whose logits exceed a WebGPU binding.
   */
  lossChunkSize?: number;
}

/** hidden [B, T, D] → its last `k` positions [B, k, D] (all when k is absent). */
export function keepLast(hidden: tf.Tensor, k: number | undefined, what: string): tf.Tensor {
  if (k === undefined) return hidden;
  const [B, T, D] = hidden.shape as [number, number, number];
  if (!Number.isInteger(k) || k < 1) throw new Error(`${what}: logitsToKeep must be a positive integer, got ${k}`);
  return k >= T ? hidden : tf.slice(hidden, [0, T - k, 0], [B, k, D]);
}

/**
 * The output of a causal LM head over final hidden states: logits of the kept positions, and the
 * shifted cross-entropy when labels are given (the two exclude each other).
 * hidden: [B, T', D] → logits [B, T' or k, V].
 */
export function causalLmOutput(
  owner: Module,
  hidden: tf.Tensor,
  labels: tf.Tensor | undefined,
  logitsToKeep: number | undefined,
  what: string,
  lossChunkSize?: number,
): { logits: tf.Tensor; loss?: tf.Tensor } {
  if (labels && logitsToKeep !== undefined) throw new Error(`${what}: logitsToKeep and labels exclude each other`);
  if (lossChunkSize !== undefined) {
    if (!labels) throw new Error(`${what}: lossChunkSize needs labels (it computes only the loss)`);
    const head = owner.child('lm_head');
    if (!head) throw new Error(`${what}: no lm_head`);
    const loss = chunkedCausalLmLoss(head, hidden, labels, lossChunkSize);
    const V = (head as { outFeatures?: number }).outFeatures ?? 0;
    return { logits: tf.zeros([hidden.shape[0]!, 0, V]), loss };
  }
  const logits = callChild(owner, 'lm_head', keepLast(hidden, logitsToKeep, what));
  return labels ? { logits, loss: causalLmLoss(logits, labels) } : { logits };
}

/** What every layer of one forward pass shares: positions, masks, prefix lengths, cache. */
export interface AttentionStep {
  batchSize: number;
  /** Number of query positions T (after virtual tokens). */
  queryLen: number;
  /** Per layer: prefix positions (attentionKV) before the tokens. */
  prefixLengths: number[];
  /** [1, T] or [B, T] int32 position ids. */
  positionIds: tf.Tensor;
  /** The same position ids as numbers, one row (shared) or B rows. */
  positionRows: number[][];
  /** [B, P + T] mask of the cached and current tokens. */
  tokenMask: tf.Tensor;
  cache?: KVCache;
  /** [B, 1, T, n_l + P + T] additive attention bias of a layer. */
  bias(layer: number): tf.Tensor;
  /**
   * A layer's prefix keys and values when the caller computed them already (a recomputed layer
   * reads them as explicit inputs); absent: the layer's `attentionKV` site gives them.
   */
  prefix?(layer: number): { key: tf.Tensor; value: tf.Tensor } | null;
}

export interface StepArgs {
  batchSize: number;
  /** [B, T] mask of the current tokens (after virtual tokens). */
  mask: tf.Tensor;
  kvSlots?: ReadonlyArray<SiteSlot<'attentionKV'>>;
  numLayers: number;
  causal: boolean;
  cache?: KVCache;
  positionIds?: tf.Tensor;
  /** Learned position tables: positions must stay below this. */
  maxPositions?: number;
  /** Model name for messages. */
  what: string;
  /** How masked keys are biased (see `MaskRule`); default `min`. */
  maskRule?: MaskRule;
}

/**
 * The position ids of the step: the given ones, or `offset`, `offset + 1`, … shared by every row;
 * checked against the position table when the model has a learned one.
 */
function positionsOf(a: StepArgs, B: number, T: number, offset: number): { positionIds: tf.Tensor; positionRows: number[][] } {
  let positionIds: tf.Tensor;
  let positionRows: number[][];
  if (a.positionIds) {
    if (a.positionIds.shape[0] !== B || a.positionIds.shape[1] !== T) {
      throw new Error(`${a.what}: positionIds shape [${a.positionIds.shape}] must be [${B}, ${T}]`);
    }
    positionIds = tf.cast(a.positionIds, 'int32');
    positionRows = positionIds.arraySync() as number[][];
  } else {
    const row = Array.from({ length: T }, (_, i) => offset + i);
    positionRows = [row];
    positionIds = tf.tensor2d(row, [1, T], 'int32');
  }
  if (a.maxPositions !== undefined) {
    const maxPos = Math.max(-1, ...positionRows.map((r) => Math.max(-1, ...r)));
    if (maxPos >= a.maxPositions) {
      throw new Error(
        `${a.what}: position ${maxPos} exceeds the position table (max_position_embeddings / n_positions = ${a.maxPositions})`,
      );
    }
  }
  return { positionIds, positionRows };
}

/** Prepares a forward pass; call inside the model's `tf.tidy`. */
export function beginStep(a: StepArgs): AttentionStep {
  const { batchSize: B, cache } = a;
  const T = a.mask.shape[1] as number;
  const started = cache?.started ?? false;
  if (cache && cache.numLayers !== a.numLayers) {
    throw new Error(`${a.what}: KVCache has ${cache.numLayers} layers, the model ${a.numLayers}`);
  }
  if (started && cache!.tokenMask!.shape[0] !== B) {
    throw new Error(`${a.what}: KVCache batch size ${cache!.tokenMask!.shape[0]} differs from the input batch size ${B}`);
  }
  const prefixLengths = started ? cache!.prefixLengths : Array.from({ length: a.numLayers }, (_, l) => prefixLength(a.kvSlots?.[l]));
  const past = started ? cache!.pastLength : 0;
  const offset = (prefixLengths[0] ?? 0) + past;
  const mask = tf.cast(a.mask, 'float32');
  const tokenMask = started ? tf.concat([cache!.tokenMask!, mask], 1) : mask;

  const { positionIds, positionRows } = positionsOf(a, B, T, offset);

  // built here, in the caller's scope, so that every layer's tidy can share them
  const biases = new Map<number, tf.Tensor>();
  for (const n of new Set(prefixLengths)) biases.set(n, attentionBias(tokenMask, n, T, a.causal, a.maskRule));
  return {
    batchSize: B,
    queryLen: T,
    prefixLengths,
    positionIds,
    positionRows,
    tokenMask,
    cache,
    bias: (layer: number) => biases.get(prefixLengths[layer] ?? 0)!,
  };
}

/**
 * A layer's full keys and values: the cached ones (which begin with the prefix) or, at the
 * first step, the `attentionKV` prefix, followed by the layer's own. Updates the cache.
 * key, value: [B, kvH, T, hd]  →  [B, kvH, n + P + T, hd].
 */
export function joinKeyValues(
  step: AttentionStep,
  layer: number,
  slot: SiteSlot<'attentionKV'> | undefined,
  key: tf.Tensor,
  value: tf.Tensor,
): { key: tf.Tensor; value: tf.Tensor } {
  const cache = step.cache;
  let k = key;
  let v = value;
  if (cache?.started) {
    k = tf.concat([cache.keys[layer]!, key], 2);
    v = tf.concat([cache.values[layer]!, value], 2);
  } else {
    const prefix = step.prefix ? step.prefix(layer) : attentionPrefix(slot, step.batchSize);
    if (prefix) {
      const want = [step.batchSize, key.shape[1], step.prefixLengths[layer], key.shape[3]];
      for (const [name, t] of [
        ['key', prefix.key],
        ['value', prefix.value],
      ] as const) {
        if (t.rank !== 4 || t.shape.some((d, i) => d !== want[i])) {
          throw new Error(`attentionKV site ${slot!.info.path} (layer ${layer}): prefix ${name} shape [${t.shape}] must be [${want}]`);
        }
      }
      k = tf.concat([prefix.key, key], 2);
      v = tf.concat([prefix.value, value], 2);
    }
  }
  if (cache) cache.setLayer(layer, k, v);
  return { key: k, value: v };
}

/** Records the step in the cache (token mask, prefix lengths). */
export function endStep(step: AttentionStep): void {
  if (!step.cache) return;
  step.cache.prefixLengths = step.prefixLengths;
  step.cache.setTokenMask(step.tokenMask);
}

/** A batch's attention mask [B, T] as float32 (all ones when absent), checked against the ids. */
export function maskOf(batch: TokenBatch, what: string): tf.Tensor {
  const ids = batch.inputIds;
  if (ids.rank !== 2) throw new Error(`${what}: inputIds must be [B, T], got shape [${ids.shape}]`);
  if (!batch.attentionMask) return tf.ones(ids.shape, 'float32');
  const m = batch.attentionMask;
  if (m.shape[0] !== ids.shape[0] || m.shape[1] !== ids.shape[1]) {
    throw new Error(`${what}: attentionMask shape [${m.shape}] must match inputIds [${ids.shape}]`);
  }
  return tf.cast(m, 'float32');
}
