// Blockwise quantization with a sorted code table, as bitsandbytes does it (its pure-torch backend),
// in float32 arithmetic (Math.fround at every product and quotient) so that bytes match exactly. Core
// knows no particular table: 4-bit codes live in @peftjs/qlora, 8-bit maps are built here on request.

const TINY = Math.fround(1e-38);

/**
 * Per-block absmax and scaled values in [-1, 1] over a flat array: full blocks multiply by the float32
 * reciprocal of their absmax, the tail block divides by it (its absmax clamped to 1e-38).
 */
export function blockScale(a: Float32Array, blockSize: number): { absmax: Float32Array; scaled: Float32Array } {
  const n = a.length;
  const nblocks = Math.ceil(n / blockSize);
  const full = n - (n % blockSize);
  const absmax = new Float32Array(nblocks);
  const scaled = new Float32Array(n);
  for (let b = 0; b < nblocks; b++) {
    const start = b * blockSize;
    const end = Math.min(n, start + blockSize);
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(a[i]));
    const tail = start >= full;
    const am = Math.max(m, TINY);
    absmax[b] = tail ? am : m;
    const inv = Math.fround(1 / am);
    for (let i = start; i < end; i++) {
      const s = tail ? Math.fround(a[i] / am) : Math.fround(a[i] * inv);
      scaled[i] = s < -1 ? -1 : s > 1 ? 1 : s;
    }
  }
  return { absmax, scaled };
}

/** float32 midpoints of a sorted table: a value ≤ bounds[k] goes to code ≤ k (ties to the lower code). */
export function midpoints(sorted: Float32Array): Float32Array {
  const out = new Float32Array(sorted.length - 1);
  for (let k = 0; k < out.length; k++) out[k] = Math.fround(sorted[k] + sorted[k + 1]) / 2;
  return out;
}

/** Number of bounds strictly below x: the nearest code of a sorted table, ties to the lower code. */
export function nearestCode(bounds: Float32Array, x: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** 8-bit blockwise quantization with a sorted 256-entry map (bitsandbytes `quantize_blockwise`). */
export function quantizeBlockwise8bit(a: Float32Array, code: Float32Array, blockSize: number): { q: Uint8Array; absmax: Float32Array } {
  const { absmax, scaled } = blockScale(a, blockSize);
  const bounds = midpoints(code);
  const q = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) q[i] = nearestCode(bounds, scaled[i]);
  return { q, absmax };
}

/** `code[q[i]]·absmax[i / blockSize]` in float32 (bitsandbytes `dequantize_blockwise`). */
export function dequantizeBlockwise8bit(q: Uint8Array, absmax: Float32Array, code: Float32Array, blockSize: number): Float32Array {
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = Math.fround(code[q[i]] * absmax[Math.floor(i / blockSize)]);
  return out;
}

/**
 * bitsandbytes' dynamic 8-bit map (`create_dynamic_map(signed, 7, 8)`): per exponent i = 0…6 the means
 * of `linspace(0.1, 1)` scaled by 10^(i−6) (and their negatives when signed), plus 0 and 1; sorted.
 * torch's float32 linspace rounds differently per build (≤ 2 ulp in some entries): use this for
 * optimizer states, and the map stored in a file to read that file.
 */
export function createDynamicMap(signed: boolean): Float32Array {
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const items = signed ? 2 ** i + 1 : 2 ** (i + 1) + 1;
    const step = Math.fround(Math.fround(1 - 0.1) / (items - 1));
    const bounds = Array.from({ length: items }, (_, k) => Math.fround(Math.fround(0.1) + Math.fround(step * k)));
    for (let k = 0; k + 1 < items; k++) {
      const mean = Math.fround(Math.fround(bounds[k] + bounds[k + 1]) / 2);
      const v = Math.fround(10 ** (i - 6) * mean);
      data.push(v);
      if (signed) data.push(-v);
    }
  }
  data.push(0, 1);
  while (data.length < 256) data.push(0);
  return Float32Array.from(data.sort((a, b) => a - b));
}
