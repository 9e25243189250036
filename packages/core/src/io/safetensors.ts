// The safetensors format, byte for byte as Hugging Face's `safetensors` (Rust, called from
// Python) reads and writes it. Pure: bytes in, bytes out; no Node imports.
//
//   [u64 LE: N] [N bytes: UTF-8 JSON header, padded with spaces to a multiple of 8] [data]
//   header: {"__metadata__": {str: str}?, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}}
//
// Offsets are relative to the data section, and the tensors tile it exactly: sorted by
// offset, each begins where the previous ended and the last ends at the end of the file.
import * as tf from '@tensorflow/tfjs-core';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** raw little-endian bytes (a view into the file buffer) */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  metadata?: Record<string, string>;
  /** in file order */
  tensors: Map<string, SafetensorsEntry>;
}

/**
 * The dtypes peftjs reads and writes, in the order of Rust's `Dtype` enum (F8_*, U16, U32
 * and U64 left out). The writer lays tensors out by this order descending, then by name:
 * the widest types first, so every tensor's data stays aligned to its item size.
 */
export const SAFETENSORS_DTYPES: readonly SafetensorsDtype[] = ['BOOL', 'U8', 'I8', 'I16', 'F16', 'BF16', 'I32', 'F32', 'F64', 'I64'];

const ITEM_SIZE: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Bytes per element of a safetensors dtype. */
export function dtypeItemSize(dtype: SafetensorsDtype): number {
  return ITEM_SIZE[dtype];
}

/** The Rust reader refuses larger headers; so do we. */
const MAX_HEADER_SIZE = 100_000_000;
const METADATA_KEY = '__metadata__';
const DEFAULT_FILE_NAME = 'safetensors data';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------
// float32 <-> F16 / BF16, round to nearest even

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
    if (exp === 0) floats[h] = (sign ? -mant : mant) * 2 ** -24; // zero or subnormal, exact
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

// ---------------------------------------------------------------------------------------
// Reading

/** Parses and fully validates a safetensors buffer; `fileName` is used in error messages. */
export function parseSafetensors(bytes: Uint8Array, fileName: string = DEFAULT_FILE_NAME): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new Error(`${fileName}: ${problem}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);

  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) fail(`header length ${headerLength} exceeds file size ${bytes.length}`);
  const n = Number(headerLength);
  if (n > MAX_HEADER_SIZE) fail(`header length ${n} exceeds the safetensors limit of ${MAX_HEADER_SIZE} bytes`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) fail(`header must be a JSON object, got ${describeJson(header)}`);

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> | undefined;
  const infos: TensorInfo[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) metadata = parseMetadata(info, fail);
    else infos.push(parseTensorInfo(name, info, dataLength, fail));
  }
  checkTiling(infos, dataLength, fail);

  const tensors = new Map<string, SafetensorsEntry>();
  for (const { name, dtype, shape, begin, end } of infos) {
    tensors.set(name, { name, dtype, shape, bytes: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  return metadata === undefined ? { tensors } : { metadata, tensors };
}

interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** data_offsets, relative to the data section */
  begin: number;
  end: number;
}

function parseTensorInfo(name: string, info: unknown, dataLength: number, fail: (problem: string) => never): TensorInfo {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(info)) fail(`${where}: expected {dtype, shape, data_offsets}, got ${describeJson(info)}`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(SAFETENSORS_DTYPES as readonly string[]).includes(dtype)) {
    fail(`${where}: unknown dtype ${JSON.stringify(dtype)} (peftjs reads ${SAFETENSORS_DTYPES.join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    fail(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    fail(`${where}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as number[];
  if (end < begin) fail(`${where}: data_offsets [${begin},${end}] end before begin`);
  if (end > dataLength) fail(`${where}: data_offsets [${begin},${end}] end beyond the data section of ${dataLength} bytes`);
  const nbytes = numel(shape as number[]) * ITEM_SIZE[dtype as SafetensorsDtype];
  if (nbytes !== end - begin) {
    fail(`${where}: shape [${shape}] of ${dtype} needs ${nbytes} bytes but data_offsets [${begin},${end}] hold ${end - begin}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/** Like the Rust reader: sorted by offsets (in place), the tensors must tile the data section exactly. */
function checkTiling(infos: TensorInfo[], dataLength: number, fail: (problem: string) => never): void {
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorInfo | undefined;
  for (const t of infos) {
    if (t.begin < covered) {
      fail(`tensor ${JSON.stringify(t.name)}: data_offsets [${t.begin},${t.end}] overlap tensor ${JSON.stringify(previous!.name)} [${previous!.begin},${previous!.end}]`);
    }
    if (t.begin > covered) fail(`data bytes [${covered},${t.begin}) belong to no tensor (gap before tensor ${JSON.stringify(t.name)})`);
    covered = t.end;
    previous = t;
  }
  if (covered !== dataLength) fail(`data section is ${dataLength} bytes but the tensors cover only ${covered} (trailing bytes)`);
}

function parseMetadata(value: unknown, fail: (problem: string) => never): Record<string, string> | undefined {
  if (value === null) return undefined; // Rust reads `null` as no metadata
  if (!isPlainObject(value)) return fail(`__metadata__ must be an object of strings, got ${describeJson(value)}`);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`__metadata__ value of ${JSON.stringify(key)} must be a string, got ${describeJson(v)}`);
  }
  return value as Record<string, string>;
}

/** Decodes an entry to a JS typed array: floats -> Float32Array, integers -> Int32Array, BOOL -> Uint8Array (0/1). */
export function decodeEntry(entry: SafetensorsEntry, fileName: string = DEFAULT_FILE_NAME): Float32Array | Int32Array | Uint8Array {
  const { name, dtype, shape, bytes } = entry;
  const where = `${fileName}: tensor ${JSON.stringify(name)}`;
  const itemSize = ITEM_SIZE[dtype];
  if (itemSize === undefined) throw new Error(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
  const count = numel(shape);
  if (bytes.length !== count * itemSize) {
    throw new Error(`${where}: shape [${shape}] of ${dtype} needs ${count * itemSize} bytes, got ${bytes.length}`);
  }
  if (itemSize > 1 && !LITTLE_ENDIAN_HOST) throw new Error(`${where}: decoding needs a little-endian host`);
  switch (dtype) {
    case 'F32':
      return new Float32Array(copyOf(bytes).buffer);
    case 'F64':
      return Float32Array.from(viewAs(bytes, Float64Array));
    case 'F16':
      return f16ToF32(viewAs(bytes, Uint16Array));
    case 'BF16':
      return bf16ToF32(viewAs(bytes, Uint16Array));
    case 'I64':
      return int64ToInt32(viewAs(bytes, Int32Array), where);
    case 'I32':
      return new Int32Array(copyOf(bytes).buffer);
    case 'I16':
      return Int32Array.from(viewAs(bytes, Int16Array));
    case 'I8':
      return Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    case 'U8':
      return Int32Array.from(bytes);
    case 'BOOL':
      return bytes.map((b) => (b === 0 ? 0 : 1));
  }
}

/** Each int64 is two int32 words, low first; it fits int32 when the high word is the low word's sign. */
function int64ToInt32(words: Int32Array, where: string): Int32Array {
  const out = new Int32Array(words.length / 2);
  for (let i = 0; i < out.length; i++) {
    const low = words[2 * i];
    const high = words[2 * i + 1];
    if (high !== low >> 31) {
      const value = (BigInt(high) << 32n) | BigInt(low >>> 0);
      throw new Error(`${where}: I64 value ${value} at index ${i} is outside the int32 range`);
    }
    out[i] = low;
  }
  return out;
}

/** To a tf.Tensor: floats -> 'float32', integers -> 'int32', BOOL -> 'bool'. */
export function entryToTensor(entry: SafetensorsEntry, fileName?: string): tf.Tensor {
  const values = decodeEntry(entry, fileName);
  const dtype = values instanceof Float32Array ? 'float32' : values instanceof Int32Array ? 'int32' : 'bool';
  return tf.tensor(values, entry.shape, dtype);
}

/** The tensors of a safetensors file; they are the caller's to dispose. Errors name `file`. */
export function decodeTensors(bytes: Uint8Array, file: string): Map<string, tf.Tensor> {
  const parsed = parseSafetensors(bytes, file);
  const out = new Map<string, tf.Tensor>();
  try {
    for (const [name, e] of parsed.tensors) out.set(name, entryToTensor(e, file));
  } catch (e) {
    tf.dispose([...out.values()]);
    throw e;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Writing

/** What to write: a tf.Tensor (float32 -> F32, int32 -> I32, bool -> BOOL), or raw typed data with an explicit dtype. */
export type TensorSource =
  | tf.Tensor
  | { dtype: SafetensorsDtype; shape: number[]; data: Float32Array | Int32Array | Uint8Array | BigInt64Array | Uint16Array };

export interface SerializeOptions {
  metadata?: Record<string, string>;
  /** write float tensors as this dtype (e.g. 'F16' or 'BF16'); default keeps F32 */
  floatDtype?: 'F32' | 'F16' | 'BF16';
}

/**
 * Serializes tensors exactly as Python `safetensors` does: data laid out by dtype (widest
 * first, see SAFETENSORS_DTYPES) then by name, header keys in that same order after
 * "__metadata__", metadata keys sorted, header padded with spaces to a multiple of 8.
 *
 * `floatDtype` applies to float32 tf.Tensors; raw sources keep their explicit dtype. Raw
 * data per dtype: F32/F64 from Float32Array; F16/BF16 from Uint16Array bits or Float32Array
 * values; I64 from BigInt64Array or Int32Array; I32/I16/I8 from Int32Array; U8 from
 * Uint8Array or Int32Array; BOOL from Uint8Array (nonzero is true).
 */
export function serializeSafetensors(
  tensors: Record<string, TensorSource> | Map<string, TensorSource>,
  opts: SerializeOptions = {},
): Uint8Array {
  const floatDtype = opts.floatDtype ?? 'F32';
  const entries: SafetensorsEntry[] = [];
  for (const [name, source] of tensors instanceof Map ? tensors : Object.entries(tensors)) {
    entries.push(encodeSource(name, source, floatDtype));
  }
  const rank = (dtype: SafetensorsDtype) => SAFETENSORS_DTYPES.indexOf(dtype);
  entries.sort((a, b) => rank(b.dtype) - rank(a.dtype) || compareCodePoints(a.name, b.name));
  return serializeEntries(entries, opts.metadata);
}

/**
 * Writes entries in the order given, each one's data right after the previous one's: the
 * entries of a parsed file come back byte-identical. (serializeSafetensors sorts first.)
 */
export function serializeEntries(entries: Iterable<SafetensorsEntry>, metadata?: Record<string, string>): Uint8Array {
  const list = [...entries];
  const fields: string[] = [];
  if (metadata !== undefined) {
    const pairs = Object.keys(metadata)
      .sort(compareCodePoints)
      .map((key) => {
        const value = metadata[key];
        if (typeof value !== 'string') throw new Error(`__metadata__ value of ${JSON.stringify(key)} must be a string, got ${describeJson(value)}`);
        return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
      });
    fields.push(`"${METADATA_KEY}":{${pairs.join(',')}}`);
  }
  const names = new Set<string>();
  let offset = 0;
  for (const { name, dtype, shape, bytes } of list) {
    const where = `tensor ${JSON.stringify(name)}`;
    if (name === METADATA_KEY) throw new Error(`${where}: the name is reserved for file metadata`);
    if (names.has(name)) throw new Error(`${where}: written twice`);
    names.add(name);
    if (ITEM_SIZE[dtype] === undefined) throw new Error(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!shape.every(isNonNegativeInteger)) throw new Error(`${where}: shape must be non-negative integers, got [${shape}]`);
    const nbytes = numel(shape) * ITEM_SIZE[dtype];
    if (bytes.length !== nbytes) throw new Error(`${where}: shape [${shape}] of ${dtype} needs ${nbytes} bytes, got ${bytes.length}`);
    fields.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${shape.join(',')}],"data_offsets":[${offset},${offset + nbytes}]}`);
    offset += nbytes;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const { bytes } of list) {
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

function encodeSource(name: string, source: TensorSource, floatDtype: 'F32' | 'F16' | 'BF16'): SafetensorsEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!LITTLE_ENDIAN_HOST) throw new Error(`${where}: encoding needs a little-endian host`);
  if (source instanceof tf.Tensor) {
    const shape = source.shape.slice();
    switch (source.dtype) {
      case 'float32':
        return { name, dtype: floatDtype, shape, bytes: encodeData(where, floatDtype, source.dataSync() as Float32Array) };
      case 'int32':
        return { name, dtype: 'I32', shape, bytes: encodeData(where, 'I32', source.dataSync() as Int32Array) };
      case 'bool':
        return { name, dtype: 'BOOL', shape, bytes: encodeData(where, 'BOOL', source.dataSync() as Uint8Array) };
      default:
        throw new Error(`${where}: cannot write a ${source.dtype} tf.Tensor (float32, int32 and bool only)`);
    }
  }
  const { dtype, shape, data } = source;
  if (ITEM_SIZE[dtype] === undefined) throw new Error(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
  if (!shape.every(isNonNegativeInteger)) throw new Error(`${where}: shape must be non-negative integers, got [${shape}]`);
  if (data.length !== numel(shape)) throw new Error(`${where}: shape [${shape}] holds ${numel(shape)} values, data has ${data.length}`);
  return { name, dtype, shape: shape.slice(), bytes: encodeData(where, dtype, data) };
}

type SourceData = Float32Array | Int32Array | Uint8Array | BigInt64Array | Uint16Array;

/** Little-endian bytes of `data` stored as `dtype` (a view of `data` when no conversion is needed). */
function encodeData(where: string, dtype: SafetensorsDtype, data: SourceData): Uint8Array {
  switch (dtype) {
    case 'F32':
      if (data instanceof Float32Array) return bytesOf(data);
      break;
    case 'F64':
      if (data instanceof Float32Array) return bytesOf(Float64Array.from(data));
      break;
    case 'F16':
      if (data instanceof Uint16Array) return bytesOf(data);
      if (data instanceof Float32Array) return bytesOf(f32ToF16(data));
      break;
    case 'BF16':
      if (data instanceof Uint16Array) return bytesOf(data);
      if (data instanceof Float32Array) return bytesOf(f32ToBf16(data));
      break;
    case 'I64':
      if (data instanceof BigInt64Array) return bytesOf(data);
      if (data instanceof Int32Array) {
        const words = new Int32Array(2 * data.length); // low word, then the sign as high word
        for (let i = 0; i < data.length; i++) {
          words[2 * i] = data[i];
          words[2 * i + 1] = data[i] >> 31;
        }
        return bytesOf(words);
      }
      break;
    case 'I32':
      if (data instanceof Int32Array) return bytesOf(data);
      break;
    case 'I16':
      if (data instanceof Int32Array) return bytesOf(narrow(where, dtype, data, new Int16Array(data.length), -32768, 32767));
      break;
    case 'I8':
      if (data instanceof Int32Array) return bytesOf(narrow(where, dtype, data, new Int8Array(data.length), -128, 127));
      break;
    case 'U8':
      if (data instanceof Uint8Array) return data;
      if (data instanceof Int32Array) return narrow(where, dtype, data, new Uint8Array(data.length), 0, 255);
      break;
    case 'BOOL':
      if (data instanceof Uint8Array) return data.map((b) => (b === 0 ? 0 : 1));
      break;
  }
  throw new Error(`${where}: cannot write ${dtype} from a ${data.constructor.name}`);
}

function narrow<T extends Int16Array | Int8Array | Uint8Array>(where: string, dtype: SafetensorsDtype, data: Int32Array, out: T, min: number, max: number): T {
  for (let i = 0; i < data.length; i++) {
    if (data[i] < min || data[i] > max) throw new Error(`${where}: value ${data[i]} at index ${i} does not fit ${dtype}`);
    out[i] = data[i];
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Helpers

/** Orders strings by Unicode code point, as Python's `sorted` and Rust's `str::cmp` do. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** UTF-16 units ordered as the code points they start: surrogates above U+E000..U+FFFF. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isNonNegativeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isPlainObject(x: unknown): boolean {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describeJson(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `${typeof x} ${JSON.stringify(x)}`;
}

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A copy of the bytes in a fresh buffer (aligned at 0). */
function copyOf(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}

type TypedArrayConstructor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** `bytes` read as T: a view when aligned, else a view of an aligned copy. */
function viewAs<T>(bytes: Uint8Array, Type: TypedArrayConstructor<T>): T {
  const length = bytes.length / Type.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(bytes.buffer, bytes.byteOffset, length);
  return new Type(copyOf(bytes).buffer, 0, length);
}
