// Writing safetensors bytes exactly as Python `safetensors` lays them out.
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../nn/module.js';
import { f32ToBf16, f32ToF16 } from './float16.js';
import {
  ITEM_SIZE,
  LITTLE_ENDIAN_HOST,
  METADATA_KEY,
  SAFETENSORS_DTYPES,
  bytesOf,
  compareCodePoints,
  describeJson,
  isNonNegativeInteger,
} from './safetensors.js';
import type { SafetensorsDtype, SafetensorsEntry } from './safetensors.js';

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
        if (typeof value !== 'string')
          throw new Error(`__metadata__ value of ${JSON.stringify(key)} must be a string, got ${describeJson(value)}`);
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

function narrow<T extends Int16Array | Int8Array | Uint8Array>(
  where: string,
  dtype: SafetensorsDtype,
  data: Int32Array,
  out: T,
  min: number,
  max: number,
): T {
  for (let i = 0; i < data.length; i++) {
    if (data[i] < min || data[i] > max) throw new Error(`${where}: value ${data[i]} at index ${i} does not fit ${dtype}`);
    out[i] = data[i];
  }
  return out;
}
