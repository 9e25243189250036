import type { ModelBatch } from './step.js';

/**
 * Whether an error is a backend running out of memory: `@peftjs/backend-node`'s `WasmHeapError`,
 * an allocation abort, a WebGPU or TensorFlow out-of-memory message.
 */
export function isOutOfMemory(e: unknown): e is Error {
  return e instanceof Error && (e.name === 'WasmHeapError' || /out of memory|Aborted\(\)/i.test(e.message));
}

/**
 * Runs a model's forward pass; an out-of-memory error comes back naming the request (`what`, the
 * batch's rows × tokens) and what would make it fit, with the backend's error as its `cause`.
 */
export function withRequestContext<T>(what: string, batch: ModelBatch, recompute: boolean, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!isOutOfMemory(e) || e.message.startsWith(`${what}: `)) throw e;
    const [B, T] = batch.inputIds.shape;
    throw requestError(what, `a batch of ${B}×${T} tokens`, recompute, e);
  }
}

/** The error of a request that does not fit: names it, says what would help, keeps the backend's error. */
export function requestError(what: string, request: string, recompute: boolean, cause: Error): Error {
  const help = recompute
    ? 'use a shorter sequence or a smaller batch (with gradient accumulation)'
    : 'turn on activation recomputation (gradientCheckpointing), or use a shorter sequence or a smaller batch';
  const err = new Error(`${what}: ${request} does not fit in memory; ${help}. ${cause.message}`, { cause });
  err.name = cause.name;
  return err;
}
