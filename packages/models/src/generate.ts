import * as tf from '@tensorflow/tfjs-core';
import { Rng, type ModelOutput } from '@peftjs/core';
import type { KVCache } from './cache.js';
import type { ModelBatch } from './step.js';
import type { PretrainedModel } from './registry.js';

/** A model `generate` can drive: a causal LM with a KV cache. */
export interface GenerativeModel {
  forward(batch: ModelBatch): ModelOutput;
  newCache(): KVCache;
}

/**
 * The model `generate` drives when the forward is not the base model's own (a PeftModel around
 * it): that forward, with the base model's KV cache. Throws when the base model cannot generate.
 */
export function generativeModel(runner: Pick<GenerativeModel, 'forward'>, base: PretrainedModel): GenerativeModel {
  if (!('newCache' in base)) throw new Error(`generate: ${base.dims.modelType} is not a causal language model`);
  return { forward: (batch) => runner.forward(batch), newCache: () => base.newCache() };
}

export interface GenerateOptions {
  /** Number of tokens to generate at most (per row). */
  maxNewTokens: number;
  /** [B, T] 1 = attend, 0 = padding (left padding for batched prompts); all ones by default. */
  attentionMask?: tf.Tensor | number[][];
  /** Sample instead of greedy argmax. Default: true when temperature (> 0), topK or topP is given. */
  doSample?: boolean;
  /** Divides the logits before sampling; 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0 or absent: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (absent or 1: all). */
  topP?: number;
  /** Token id(s) that end a row (the eos of generation_config.json / config.json). */
  eosTokenId?: number | readonly number[];
  /** Emitted for rows that have finished (default: the first eos id, else 0). */
  padTokenId?: number;
  /** Seed for sampling (ignored when `rng` is given). */
  seed?: number;
  rng?: Rng;
  /** Reuse keys and values between steps (default true); false recomputes the whole sequence each step. */
  useCache?: boolean;
  /** Called after each step with one token per row; return false to stop early. */
  onToken?: (step: GenerationStep) => void | boolean;
}

/** One decoding step: the token chosen for each row. */
export interface GenerationStep {
  step: number;
  /** One token id per batch row (the pad id for rows already finished). */
  tokens: number[];
  /** Whether each row has finished (emitted an eos, now or before). */
  finished: boolean[];
}

export interface GenerateResult {
  /** Prompt followed by the generated tokens, per row (padding kept as given). */
  sequences: number[][];
  /** Only the generated tokens, per row, up to and including its eos. */
  newTokens: number[][];
  finishReason: Array<'eos' | 'length' | 'stopped'>;
}

function toRows(ids: tf.Tensor | number[][] | number[]): number[][] {
  if (ids instanceof tf.Tensor) {
    if (ids.rank !== 2) throw new Error(`generate: inputIds must be [B, T], got shape [${ids.shape}]`);
    return ids.arraySync() as number[][];
  }
  if (ids.length > 0 && typeof ids[0] === 'number') return [ids as number[]];
  return ids as number[][];
}

/**
 * The batch of one decoding step (logits of the last position only): with a cache after the first
 * step only the newest token of each row, else every token so far with its mask.
 */
function stepBatch(sequences: number[][], fullMask: number[][], cache: KVCache | null, step: number): ModelBatch {
  const B = sequences.length;
  if (cache && step > 0) {
    // only the newest token; the cache holds the rest
    return {
      inputIds: tf.tensor2d(
        sequences.map((s) => [s[s.length - 1]]),
        [B, 1],
        'int32',
      ),
      attentionMask: tf.ones([B, 1]),
      cache,
      logitsToKeep: 1,
    };
  }
  const len = sequences[0].length;
  const batch: ModelBatch = {
    inputIds: tf.tensor2d(sequences, [B, len], 'int32'),
    attentionMask: tf.tensor2d(fullMask, [B, len]),
    logitsToKeep: 1,
  };
  if (cache) batch.cache = cache;
  return batch;
}

/**
 * Decodes token by token, yielding each step. Greedy by default; with sampling it applies
 * temperature, then top-k, then top-p (transformers' order) and draws with a seeded `Rng`.
 */
export async function* generateStream(
  model: GenerativeModel,
  inputIds: tf.Tensor | number[][] | number[],
  opts: GenerateOptions,
): AsyncGenerator<GenerationStep, void, undefined> {
  const rows = toRows(inputIds);
  const B = rows.length;
  const T = rows[0]?.length ?? 0;
  if (B === 0 || T === 0) throw new Error('generate: inputIds must hold at least one token');
  if (rows.some((r) => r.length !== T)) throw new Error('generate: every row of inputIds must have the same length (pad them)');
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) {
    throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`);
  }
  const mask = opts.attentionMask === undefined ? rows.map((r) => r.map(() => 1)) : toRows(opts.attentionMask);
  if (mask.length !== B || mask.some((r) => r.length !== T)) throw new Error(`generate: attentionMask must be [${B}, ${T}]`);
  const eos = new Set(opts.eosTokenId === undefined ? [] : typeof opts.eosTokenId === 'number' ? [opts.eosTokenId] : opts.eosTokenId);
  const pad = opts.padTokenId ?? (eos.size > 0 ? [...eos][0] : 0);
  const sampling = samplingOf(opts);
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const useCache = opts.useCache ?? true;

  const sequences = rows.map((r) => [...r]);
  const fullMask = mask.map((r) => [...r]);
  const finished = new Array<boolean>(B).fill(false);
  const cache = useCache ? model.newCache() : null;
  try {
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const last = tf.tidy(() => {
        const { logits } = model.forward(stepBatch(sequences, fullMask, cache, step));
        const [b, t, V] = logits.shape as [number, number, number];
        // last: [B, V] the logits of the last position
        return tf.reshape(tf.slice(logits, [0, t - 1, 0], [b, 1, V]), [b, V]);
      });
      const V = last.shape[1] as number;
      const data = (await last.data()) as Float32Array;
      last.dispose();
      const tokens: number[] = [];
      for (let b = 0; b < B; b++) {
        const row = data.subarray(b * V, (b + 1) * V);
        const token = finished[b] ? pad : sampling ? sampleToken(row, sampling, rng) : argmax(row);
        tokens.push(token);
        if (!finished[b] && eos.has(token)) finished[b] = true;
        sequences[b].push(token);
        fullMask[b].push(1);
      }
      yield { step, tokens, finished: [...finished] };
      if (finished.every(Boolean)) return;
    }
  } finally {
    cache?.dispose();
  }
}

/** Generates up to `maxNewTokens` tokens per row; see `generateStream`. */
export async function generate(
  model: GenerativeModel,
  inputIds: tf.Tensor | number[][] | number[],
  opts: GenerateOptions,
): Promise<GenerateResult> {
  const rows = toRows(inputIds);
  const newTokens: number[][] = rows.map(() => []);
  const done = rows.map(() => false);
  let stopped = false;
  for await (const s of generateStream(model, rows, opts)) {
    s.tokens.forEach((t, b) => {
      if (!done[b]) newTokens[b].push(t);
      done[b] = s.finished[b];
    });
    if (opts.onToken && opts.onToken(s) === false) {
      stopped = true;
      break;
    }
  }
  return {
    sequences: rows.map((r, b) => [...r, ...newTokens[b]]),
    newTokens,
    finishReason: done.map((d) => (d ? 'eos' : stopped ? 'stopped' : 'length')),
  };
}

interface Sampling {
  temperature: number;
  topK: number;
  topP: number;
}

function samplingOf(o: GenerateOptions): Sampling | null {
  const temperature = o.temperature ?? 1;
  if (!(temperature >= 0)) throw new Error(`generate: temperature must be >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0))
    throw new Error(`generate: topK must be a non-negative integer, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${o.topP}`);
  const wants = o.doSample ?? (o.temperature !== undefined || o.topK !== undefined || o.topP !== undefined);
  if (!wants || temperature === 0) return null;
  return { temperature, topK: o.topK ?? 0, topP: o.topP ?? 1 };
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Draws one token from logits: temperature → top-k → top-p → softmax → inverse-CDF draw. */
export function sampleToken(logits: ArrayLike<number>, s: Sampling, rng: Rng): number {
  const V = logits.length;
  let order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
  if (s.topK > 0 && s.topK < V) order = order.slice(0, s.topK);
  const maxLogit = logits[order[0]] / s.temperature;
  let probs = order.map((i) => Math.exp(logits[i] / s.temperature - maxLogit));
  let sum = probs.reduce((a, b) => a + b, 0);
  if (s.topP < 1) {
    // keep the most likely tokens until their mass reaches topP (at least one)
    let acc = 0;
    let keep = 0;
    while (keep < probs.length && acc < s.topP * sum) acc += probs[keep++];
    order = order.slice(0, Math.max(1, keep));
    probs = probs.slice(0, order.length);
    sum = probs.reduce((a, b) => a + b, 0);
  }
  let u = rng.next() * sum;
  for (let i = 0; i < order.length; i++) {
    u -= probs[i];
    if (u < 0) return order[i];
  }
  return order[order.length - 1];
}
