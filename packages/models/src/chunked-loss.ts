import * as tf from '@tensorflow/tfjs-core';
import { LinearLike, type Module } from '@peftjs/core';
import { type TensorModule } from './site-table.js';

/**
 * The shifted causal-LM cross-entropy of `causalLmLoss` without building the [B, T, V] logits:
 * the LM head runs over chunks of at most `chunk` vocabulary rows, each chunk gives a
 * log-sum-exp per position, and the chunks' values are combined by one more log-sum-exp. The
 * label's logit is h·W[label] (+ b[label]). So no tensor holds more than [B·(T−1), chunk] logits,
 * which keeps a large vocabulary under WebGPU's binding limit (on every backend alike).
 *
 * An LM head with active adapter hooks (LoRA on lm_head) or another layout cannot be sliced by
 * vocabulary: it then runs, hooks included, over chunks of positions holding at most
 * N·chunk logits each (N = B·(T−1)), the same bound.
 *
 * Under autograd each chunk's logits are still kept for the backward pass (no recomputation).
 * hidden: [B, T, D]   labels: [B, T] (−100 ignored)   → scalar mean over the kept positions.
 */
export function chunkedCausalLmLoss(head: Module, hidden: tf.Tensor, labels: tf.Tensor, chunk: number): tf.Tensor {
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`lossChunkSize must be a positive integer, got ${chunk}`);
  return tf.tidy(() => {
    const [B, T, D] = hidden.shape as [number, number, number];
    if (labels.shape[0] !== B || labels.shape[1] !== T)
      throw new Error(`labels shape [${labels.shape}] does not match hidden states [${B}, ${T}, ${D}] (after virtual tokens)`);
    const h = tf.reshape(tf.slice(hidden, [0, 0, 0], [B, T - 1, D]), [-1, D]);
    const lab = tf.cast(tf.reshape(tf.slice(labels, [0, 1], [B, T - 1]), [-1]), 'int32');
    const keep = tf.notEqual(lab, -100);
    const safe = tf.where(keep, lab, tf.zerosLike(lab));
    const nll = slicedByVocabulary(head)
      ? vocabularyChunks(head as LinearLike, h, safe, chunk)
      : positionChunks(head as TensorModule, h, safe, chunk);
    const k = tf.cast(keep, 'float32');
    return tf.div(tf.sum(tf.mul(nll, k)), tf.sum(k));
  });
}

function slicedByVocabulary(head: Module): boolean {
  return head instanceof LinearLike && head.layout === 'linear' && head.peft.activeHooks().length === 0;
}

/** −log softmax at the label, [N], with the vocabulary in chunks. h: [N, D], W: [V, D]. */
function vocabularyChunks(head: LinearLike, h: tf.Tensor, safe: tf.Tensor, chunk: number): tf.Tensor {
  const W = head.weight;
  const b = head.bias;
  const V = W.shape[0]!;
  const lse: tf.Tensor[] = [];
  for (let v0 = 0; v0 < V; v0 += chunk) {
    const n = Math.min(chunk, V - v0);
    let logits = tf.matMul(h, tf.slice(W, [v0, 0], [n, -1]), false, true);
    if (b) logits = tf.add(logits, tf.slice(b, [v0], [n]));
    lse.push(tf.logSumExp(logits, -1));
  }
  let target = tf.sum(tf.mul(h, tf.gather(W, safe)), -1);
  if (b) target = tf.add(target, tf.gather(b, safe));
  return tf.sub(lse.length === 1 ? lse[0]! : tf.logSumExp(tf.stack(lse, 1), -1), target);
}

/** −log softmax at the label, [N], running the head (hooks included) over chunks of positions. */
function positionChunks(head: TensorModule, h: tf.Tensor, safe: tf.Tensor, chunk: number): tf.Tensor {
  const [N, D] = h.shape as [number, number];
  const V = head instanceof LinearLike ? head.outFeatures : 0;
  const rows = V > 0 ? Math.max(1, Math.floor((N * chunk) / V)) : N;
  const parts: tf.Tensor[] = [];
  for (let r0 = 0; r0 < N; r0 += rows) {
    const n = Math.min(rows, N - r0);
    const logits = head.forward(tf.slice(h, [r0, 0], [n, D]));
    const lab = tf.slice(safe, [r0], [n]);
    parts.push(tf.sub(tf.logSumExp(logits, -1), tf.sum(tf.mul(logits, tf.oneHot(lab, logits.shape[1]!)), -1)));
  }
  return parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
}
