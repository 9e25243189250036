import { ELEMENTWISE_WASM } from './binary.js';

type Fn3 = (a: number, b: number, out: number, bytes: number) => void;
type Fn4 = (a: number, b: number, c: number, out: number, bytes: number) => void;

/** The elementwise SIMD functions bound to one memory (byte addresses; byte counts multiple of 16). */
export interface ElementwiseModule {
  swiglu: Fn3;
  swiglu_dgate: Fn4;
  swiglu_dup: Fn3;
  /** softmax(x + b) of one row into y (y may be x). */
  softmax_row: Fn3;
  /** The softmax gradient of one row: out = p·(dy − Σ dy·p). */
  softmax_grad_row: (dy: number, p: number, out: number, bytes: number) => void;
  /** The largest value of a row (NaN if any is). */
  max_row: (x: number, bytes: number) => number;
  /** Σ exp(x − shift) over a row, in f32 lanes. */
  exp_sum_row: (x: number, bytes: number, shift: number) => number;
  /** y = scale·exp(x − shift) over a row. */
  exp_row: (x: number, y: number, bytes: number, shift: number, scale: number) => void;
  /** x·a + g·b (AdamW's first moment), and x·a + g²·b (its second). */
  ema: (x: number, g: number, out: number, bytes: number, a: number, b: number) => void;
  ema_sq: (x: number, g: number, out: number, bytes: number, a: number, b: number) => void;
  /** p·keep − (m / (√v / bc2 + eps))·step (AdamW's update). */
  adam_update: (p: number, m: number, v: number, out: number, bytes: number, keep: number, bc2: number, eps: number, step: number) => void;
  /** RMSNorm of one row of `bytes`/4 values: y = x·r·w. */
  rms_norm_row: (x: number, w: number, y: number, bytes: number, eps: number) => void;
  /** Its x-gradient for one row. */
  rms_norm_dx_row: (dy: number, x: number, w: number, out: number, bytes: number, eps: number) => void;
  /** RoPE of one row whose halves are `bytes` long (see wat.ts for sa, sb, sign). */
  rotary_row: (x: number, c: number, sa: number, sb: number, y: number, bytes: number, sign: number) => void;
}

const bound = new WeakMap<WebAssembly.Memory, ElementwiseModule>();

/** The module instantiated on `memory` (once per memory; plain or shared as the memory is). */
export function elementwiseFor(memory: WebAssembly.Memory): ElementwiseModule {
  let m = bound.get(memory);
  if (!m) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const bytes = Uint8Array.from(atob(ELEMENTWISE_WASM[shared ? 'shared' : 'plain']), (c) => c.charCodeAt(0));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    m = instance.exports as unknown as ElementwiseModule;
    bound.set(memory, m);
  }
  return m;
}
