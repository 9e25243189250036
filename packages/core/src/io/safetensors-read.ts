// Reading safetensors bytes: the header validated as the Rust reader does, tensors decoded.
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../nn/module.js';
import { bf16ToF32, f16ToF32 } from './float16.js';
import {
  DEFAULT_FILE_NAME,
  ITEM_SIZE,
  LITTLE_ENDIAN_HOST,
  MAX_HEADER_SIZE,
  METADATA_KEY,
  SAFETENSORS_DTYPES,
  copyOf,
  describeJson,
  isNonNegativeInteger,
  isPlainObject,
  viewAs,
} from './safetensors.js';
import type { SafetensorsDtype, SafetensorsEntry, SafetensorsFile } from './safetensors.js';

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
      fail(
        `tensor ${JSON.stringify(t.name)}: data_offsets [${t.begin},${t.end}] overlap tensor ${JSON.stringify(previous!.name)} [${previous!.begin},${previous!.end}]`,
      );
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
