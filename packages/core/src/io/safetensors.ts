// The safetensors format, byte for byte as Hugging Face's `safetensors` (Rust, called from
// Python) reads and writes it. Pure: bytes in, bytes out; no Node imports.
//
//   [u64 LE: N] [N bytes: UTF-8 JSON header, padded with spaces to a multiple of 8] [data]
//   header: {"__metadata__": {str: str}?, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}}
//
// Offsets are relative to the data section, and the tensors tile it exactly: sorted by
// offset, each begins where the previous ended and the last ends at the end of the file.
//
// This file holds the format's types, dtypes and helpers; reading is in `safetensors-read.ts`,
// writing in `safetensors-write.ts`, float16/bfloat16 conversion in `float16.ts`.

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

export const ITEM_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Bytes per element of a safetensors dtype. */
export function dtypeItemSize(dtype: SafetensorsDtype): number {
  return ITEM_SIZE[dtype];
}

/** The Rust reader refuses larger headers; so do we. */
export const MAX_HEADER_SIZE = 100_000_000;
export const METADATA_KEY = '__metadata__';
export const DEFAULT_FILE_NAME = 'safetensors data';

export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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

export function isNonNegativeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function isPlainObject(x: unknown): boolean {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function describeJson(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `${typeof x} ${JSON.stringify(x)}`;
}

export function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A copy of the bytes in a fresh buffer (aligned at 0). */
export function copyOf(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}

export type TypedArrayConstructor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** `bytes` read as T: a view when aligned, else a view of an aligned copy. */
export function viewAs<T>(bytes: Uint8Array, Type: TypedArrayConstructor<T>): T {
  const length = bytes.length / Type.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(bytes.buffer, bytes.byteOffset, length);
  return new Type(copyOf(bytes).buffer, 0, length);
}
