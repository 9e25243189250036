import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, IGNORE_INDEX, maskedSoftmax } from '@peftjs/core';
import { ACTIVATIONS, type ActivationName } from './config.js';

/** float32's most negative finite value: what transformers adds to masked attention scores. */
export const FLOAT32_MIN = -3.4028234663852886e38;

// ---- activations ------------------------------------------------------------------------

/** GELU, exact: x·Φ(x) = ½x·(1 + erf(x/√2)) (BERT's "gelu"; tfjs registers erf's gradient). */
export function geluExact(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** GELU, tanh approximation (GPT-2's "gelu_new"): ½x·(1 + tanh(√(2/π)·(x + 0.044715x³))). */
export function geluNew(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  });
}

/** SiLU / swish: x·σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/** The activation a config names (`hidden_act`, `activation_function`). */
export function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  const kind = ACTIVATIONS[name as ActivationName];
  switch (kind) {
    case 'gelu':
      return geluExact;
    case 'gelu_new':
      return geluNew;
    case 'silu':
      return silu;
    case 'relu':
      return (x) => tf.relu(x);
    case 'tanh':
      return (x) => tf.tanh(x);
    default:
      throw new Error(`Activation "${name}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  }
}

// ---- attention --------------------------------------------------------------------------

/**
 * How a masked key is biased. `min` (LLaMA, BERT): float32 min for every key a query may not see,
 * so a query whose keys are all masked attends uniformly to every key. `gpt2`: transformers' GPT-2
 * eager attention, `where(causal, score, min)` and then `+ (1 − mask)·min`: a future key gets min, a
 * visible padded key min, and a key both future and padded min + min = −inf (weight 0), so a
 * left-padded query row attends uniformly to the keys that are not both future and padded.
 */
export type MaskRule = 'min' | 'gpt2';

/**
 * Additive attention bias: 0 where a query may attend, float32 min where it may not (and −inf
 * for future padded keys under the `gpt2` rule, see `MaskRule`).
 * Keys are laid out `[prefix n][past P][current T]`; `tokenMask` [B, P+T] covers the past and
 * current tokens (1 = attend). Prefix keys are always attended. Causal: query i (token P+i)
 * sees token keys j ≤ P+i.
 * Returns [B, 1, T, n+P+T].
 */
export function attentionBias(
  tokenMask: tf.Tensor,
  prefixLen: number,
  queryLen: number,
  causal: boolean,
  rule: MaskRule = 'min',
): tf.Tensor {
  if (rule === 'gpt2' && causal) return gpt2AttentionBias(tokenMask, prefixLen, queryLen);
  if (causal) return tf.tidy(() => causalMinBias(tokenMask, prefixLen, queryLen));
  return tf.tidy(() => {
    const [B, S] = tokenMask.shape as [number, number];
    // keyOk: [B, 1, T, S]
    let allowed = tf.tile(tf.reshape(tf.greater(tf.cast(tokenMask, 'float32'), 0), [B, 1, 1, S]), [1, 1, queryLen, 1]);
    if (prefixLen > 0) allowed = tf.concat([tf.ones([B, 1, queryLen, prefixLen], 'bool'), allowed], 3);
    return tf.where(allowed, tf.zeros([], 'float32'), tf.scalar(FLOAT32_MIN, 'float32'));
  });
}

/**
 * The causal bias of the `min` rule in float arithmetic (no bool broadcasts, which tfjs-wasm runs
 * through Tile and a slow LogicalAnd, and no broadcast Minimum, 10× slower there than Add): flags
 * −1 for a padded key [B,1,1,S] plus −1 for a future one [1,1,T,S], clipped to [−1, 0] (a key that
 * is both gets −1, not −2) and scaled by −min: exactly float32 min or +0.
 */
function causalMinBias(tokenMask: tf.Tensor, prefixLen: number, queryLen: number): tf.Tensor {
  const [B, S] = tokenMask.shape as [number, number];
  const past = S - queryLen;
  const future = new Float32Array(queryLen * S);
  for (let i = 0; i < queryLen; i++) for (let j = past + i + 1; j < S; j++) future[i * S + j] = -1;
  // padded: keyOk − 1, [B, 1, 1, S]: 0 where the key is kept, −1 where padded
  const keyOk = tf.cast(tf.greater(tf.cast(tokenMask, 'float32'), 0), 'float32');
  const padded = tf.reshape(tf.sub(keyOk, 1), [B, 1, 1, S]);
  const flags = tf.clipByValue(tf.add(padded, tf.tensor4d(future, [1, 1, queryLen, S])), -1, 0);
  const bias = tf.mul(flags, -FLOAT32_MIN);
  return prefixLen > 0 ? tf.concat([tf.zeros([B, 1, queryLen, prefixLen]), bias], 3) : bias;
}

/** The `gpt2` rule of `MaskRule`: min for future keys plus min for padded ones, in float32 (min + min = −inf). */
function gpt2AttentionBias(tokenMask: tf.Tensor, prefixLen: number, queryLen: number): tf.Tensor {
  return tf.tidy(() => {
    const [B, S] = tokenMask.shape as [number, number];
    const past = S - queryLen;
    const n = prefixLen + S;
    // future: [1, 1, T, n] min where key j is after query i (prefix keys never are)
    const future = new Float32Array(queryLen * n);
    for (let i = 0; i < queryLen; i++) for (let j = prefixLen + past + i + 1; j < n; j++) future[i * n + j] = FLOAT32_MIN;
    // padded: [B, 1, 1, n] min where the key's token is padding
    let padded = tf.where(tf.greater(tf.cast(tokenMask, 'float32'), 0), tf.zeros([B, S]), tf.fill([B, S], FLOAT32_MIN));
    if (prefixLen > 0) padded = tf.concat([tf.zeros([B, prefixLen]), padded], 1);
    return tf.add(tf.tensor4d(future, [1, 1, queryLen, n]), tf.reshape(padded, [B, 1, 1, n]));
  });
}

/**
 * Scaled dot-product attention with grouped-query heads and no key/value repetition.
 * q: [B, H, T, hd]   k, v: [B, kvH, S, hd]   bias: [B, 1, T, S]   →   [B, H, T, hd].
 * Query head h reads key/value head ⌊h / (H/kvH)⌋, as transformers' `repeat_kv`.
 * `dropoutProbs` is applied to the attention probabilities (training only).
 */
export function scaledDotProductAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  bias: tf.Tensor,
  scale: number,
  dropoutProbs?: (p: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => {
    const [B, H, T, hd] = q.shape as [number, number, number, number];
    const kvH = k.shape[1] as number;
    const S = k.shape[2] as number;
    const rep = H / kvH;
    // heads h = g·rep + r are contiguous, so q regroups to [B, kvH, rep·T, hd]; the scale goes on q
    // ([.., T, hd]) rather than on the scores ([.., T, S]), which the tape would keep once more
    const qs = tf.mul(q, scale);
    const qg = rep === 1 ? qs : tf.reshape(qs, [B, kvH, rep * T, hd]);
    // scores: [B, kvH, rep·T, S] → [B, H, T, S]
    let scores = tf.matMul(qg, k, false, true);
    if (rep !== 1) scores = tf.reshape(scores, [B, H, T, S]);
    // PeftMaskedSoftmax: softmax(scores + bias); with a kernel (wasm) the tape keeps only the probabilities
    let probs = maskedSoftmax({ scores, bias }, {});
    if (dropoutProbs) probs = dropoutProbs(probs);
    // out: [B, kvH, rep·T, hd] → [B, H, T, hd]
    const pg = rep === 1 ? probs : tf.reshape(probs, [B, kvH, rep * T, S]);
    const out = tf.matMul(pg, v);
    return rep === 1 ? out : tf.reshape(out, [B, H, T, hd]);
  });
}

/** [B, T, heads·hd] → [B, heads, T, hd]. */
export function splitHeads(x: tf.Tensor, heads: number, headDim: number): tf.Tensor {
  return tf.tidy(() => {
    const [B, T] = x.shape as [number, number];
    return tf.transpose(tf.reshape(x, [B, T, heads, headDim]), [0, 2, 1, 3]);
  });
}

/** [B, heads, T, hd] → [B, T, heads·hd]. */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [B, H, T, hd] = x.shape as [number, number, number, number];
    return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [B, T, H * hd]);
  });
}

// ---- losses -----------------------------------------------------------------------------

/**
 * Mean cross-entropy over the positions whose label is not -100 (torch's `CrossEntropyLoss`
 * with `ignore_index=-100`). logits: [N, C]   labels: [N] int.
 */
export function crossEntropyIgnore(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const C = logits.shape[logits.rank - 1] as number;
    // PeftCrossEntropy: backends with a kernel (wasm) make no log-probabilities or one-hot [N, C]
    return crossEntropy({ logits: tf.reshape(logits, [-1, C]), labels: tf.cast(tf.reshape(labels, [-1]), 'int32') }, {});
  });
}

/**
 * Causal LM loss as transformers: logits [B, T, V] at t predict labels [B, T] at t+1.
 */
export function causalLmLoss(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [B, T, V] = logits.shape as [number, number, number];
    if (labels.shape[0] !== B || labels.shape[1] !== T) {
      throw new Error(`labels shape [${labels.shape}] does not match logits [${B}, ${T}, ${V}] (after virtual tokens)`);
    }
    // position t predicts label t+1; the last position predicts nothing (label -100), so the
    // logits are used whole (slicing them off copied [B, T-1, V] and its gradient)
    const shiftLabels = tf.concat([tf.slice(tf.cast(labels, 'int32'), [0, 1], [B, T - 1]), tf.fill([B, 1], IGNORE_INDEX, 'int32')], 1);
    return crossEntropyIgnore(logits, shiftLabels);
  });
}

/** Mean squared error (regression heads, `num_labels` 1). */
export function mseLoss(pred: tf.Tensor, target: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(tf.reshape(pred, [-1]), tf.cast(tf.reshape(target, [-1]), 'float32')))));
}

/** [B, T] ones (the default attention mask). */
export function onesMask(ids: tf.Tensor): tf.Tensor {
  return tf.ones(ids.shape, 'float32');
}

/**
 * `tf.tidy` for a function returning an interface of tensors (tfjs's `TensorContainer` wants an
 * index signature that interfaces do not declare). Every tensor reachable from the result is kept.
 */
export function tidyOut<T extends object>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}
