// float32 <-> IEEE half (F16) and bfloat16 (BF16), round to nearest even: numpy's
// `astype(float16)` and torch's `to(bfloat16)`, bit for bit. Pure; no tf, no Node.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 bits -> IEEE half bits, exactly as numpy's `npy_floatbits_to_halfbits`. */
function halfBitsFromFloatBits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = f & 0x7f800000;
  if (exp >= 0x47800000) {
    // Inf or NaN (NaN keeps its top payload bits and stays NaN), or overflow to Inf.
    if (exp === 0x7f800000 && (f & 0x007fffff) !== 0) {
      const nan = 0x7c00 + ((f & 0x007fffff) >>> 13);
      return sign | (nan === 0x7c00 ? 0x7c01 : nan);
    }
    return sign | 0x7c00;
  }
  if (exp <= 0x38000000) {
    // Subnormal half, or zero.
    if (exp < 0x33000000) return sign;
    const e = exp >>> 23;
    let sig = (0x00800000 + (f & 0x007fffff)) >>> (113 - e);
    // Round half to even: the shift may have dropped up to 11 bits, checked in `f`.
    if ((sig & 0x3fff) !== 0x1000 || (f & 0x7ff) !== 0) sig += 0x1000;
    return sign | (sig >>> 13);
  }
  let sig = f & 0x007fffff;
  if ((sig & 0x3fff) !== 0x1000) sig += 0x1000;
  // A carry out of the significand bumps the exponent, possibly to Inf: both correct.
  return sign | (((exp - 0x38000000) >>> 13) + (sig >>> 13));
}

/** float32 bits -> bfloat16 bits, as torch rounds them (NaN becomes 0x7fc0). */
function bfloat16BitsFromFloatBits(f: number): number {
  if ((f & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}

/** A float (rounded to float32 first) as IEEE half bits, round to nearest even. */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x;
  return halfBitsFromFloatBits(scratchU32[0]);
}

/** A float (rounded to float32 first) as bfloat16 bits, round to nearest even. */
export function f32ToBf16Bits(x: number): number {
  scratchF32[0] = x;
  return bfloat16BitsFromFloatBits(scratchU32[0]);
}

let halfTable: Uint32Array | undefined;

/** float32 bits of all 65536 halves: decoding is then one table load per element. */
function halfToFloatBitsTable(): Uint32Array {
  if (halfTable) return halfTable;
  const bits = new Uint32Array(65536);
  const floats = new Float32Array(bits.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0)
      floats[h] = (sign ? -mant : mant) * 2 ** -24; // zero or subnormal, exact
    else if (exp === 31) bits[h] = sign | 0x7f800000 | (mant << 13);
    else bits[h] = sign | ((exp + 112) << 23) | (mant << 13);
  }
  halfTable = bits;
  return bits;
}

/** IEEE half bits -> float. */
export function f16BitsToF32(h: number): number {
  scratchU32[0] = halfToFloatBitsTable()[h & 0xffff];
  return scratchF32[0];
}

/** bfloat16 bits -> float. */
export function bf16BitsToF32(b: number): number {
  scratchU32[0] = (b & 0xffff) << 16;
  return scratchF32[0];
}

/** float32 values -> F16 bits, round to nearest even (numpy's `astype(float16)`). */
export function f32ToF16(values: Float32Array): Uint16Array {
  const src = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < src.length; i++) out[i] = halfBitsFromFloatBits(src[i]);
  return out;
}

/** F16 bits -> float32 values (exact). */
export function f16ToF32(bits: Uint16Array): Float32Array {
  const table = halfToFloatBitsTable();
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return new Float32Array(out.buffer);
}

/** float32 values -> BF16 bits, round to nearest even (torch's `to(bfloat16)`). */
export function f32ToBf16(values: Float32Array): Uint16Array {
  const src = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < src.length; i++) out[i] = bfloat16BitsFromFloatBits(src[i]);
  return out;
}

/** BF16 bits -> float32 values (exact). */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}
