// One bitsandbytes 4-bit linear as transformers saves it (`Linear4bit._save_to_state_dict` +
// `QuantState.as_dict(packed=True)`), both ways. Per linear P:
//   P.weight                    U8 [ceil(n/2), 1]   (or F16/BF16/F32 [n/2/itemsize, 1] with a float quant_storage)
//   P.weight.absmax             U8 [nblocks] with double quant, else F32 [nblocks]
//   P.weight.quant_map          F32 [16]
//   P.weight.nested_absmax      F32 [ceil(nblocks/256)]   (double quant)
//   P.weight.nested_quant_map   F32 [256]                 (double quant)
//   P.weight.quant_state.bitsandbytes__nf4|fp4   U8: the UTF-8 JSON of the other items
import { formatPythonJson, type SafetensorsDtype, type SafetensorsEntry } from '@peftjs/core/io';
import type { QuantType } from './codes.js';
import type { QuantState4bit } from './math.js';

export const QUANT_STATE_KEY = 'weight.quant_state.bitsandbytes__';
const DTYPES = ['float32', 'float16', 'bfloat16'] as const;

/** Python's `repr` of a float (the JSON's nested_offset is a float32 widened to a Python float). */
function pythonFloatRepr(x: number): string {
  const text = formatPythonJson({ v: x }, { floatKeys: ['v'] });
  return /"v": (.*)\n/.exec(text)![1];
}

/** The exact string bitsandbytes packs: `json.dumps` with default separators, in `as_dict` order. */
export function quantStateJson(s: QuantState4bit): string {
  let json = `{"quant_type": "${s.quantType}", "blocksize": ${s.blockSize}, "dtype": "${s.dtype}", "shape": [${s.shape.join(', ')}]`;
  if (s.nested) {
    json += `, "nested_blocksize": ${s.nested.blockSize}, "nested_dtype": "float32", "nested_offset": ${pythonFloatRepr(s.nested.offset)}`;
  }
  return `${json}}`;
}

const f32Bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** The tensors of one 4-bit linear, in `_save_to_state_dict` order (weight, bias, then the quant state). */
export function stateToEntries(prefix: string, s: QuantState4bit, bias?: SafetensorsEntry): SafetensorsEntry[] {
  const e = (name: string, dtype: SafetensorsDtype, shape: number[], bytes: Uint8Array): SafetensorsEntry => ({
    name: prefix + name,
    dtype,
    shape,
    bytes,
  });
  const out = [e('weight', 'U8', [s.packed.length, 1], s.packed)];
  if (bias) out.push({ ...bias, name: `${prefix}bias` });
  out.push(
    s.nested
      ? e('weight.absmax', 'U8', [s.absmax.length], s.absmax as Uint8Array)
      : e('weight.absmax', 'F32', [s.absmax.length], f32Bytes(s.absmax as Float32Array)),
  );
  out.push(e('weight.quant_map', 'F32', [16], f32Bytes(s.quantMap)));
  if (s.nested) {
    out.push(e('weight.nested_absmax', 'F32', [s.nested.absmax.length], f32Bytes(s.nested.absmax)));
    out.push(e('weight.nested_quant_map', 'F32', [256], f32Bytes(s.nested.code)));
  }
  const json = new TextEncoder().encode(quantStateJson(s));
  out.push(e(`${QUANT_STATE_KEY}${s.quantType}`, 'U8', [json.length], json));
  return out;
}

/** The `P.`-prefixed quant-state names a 4-bit linear needs, given its JSON key; for claiming them from a header. */
export function quantStateNames(prefix: string, doubleQuant: boolean, quantKey: string): string[] {
  const names = ['weight', 'weight.absmax', 'weight.quant_map'].map((n) => prefix + n);
  if (doubleQuant) names.push(`${prefix}weight.nested_absmax`, `${prefix}weight.nested_quant_map`);
  names.push(quantKey);
  return names;
}

/** The quant-state key of a linear in a header (`P.weight.quant_state.bitsandbytes__nf4`), or null for a float linear. */
export function findQuantKey(prefix: string, names: Iterable<string>, file: string): string | null {
  const found = [...names].filter((n) => n.startsWith(prefix + QUANT_STATE_KEY));
  if (found.length > 1) throw new Error(`${file}: ${prefix}weight has ${found.length} quant states (${found.join(', ')})`);
  if (found.length === 0) return null;
  const type = found[0].slice((prefix + QUANT_STATE_KEY).length);
  if (type !== 'nf4' && type !== 'fp4') throw new Error(`${file}: tensor "${found[0]}": unknown 4-bit quant type "${type}" (nf4 or fp4)`);
  return found[0];
}

interface QuantJson {
  quant_type: QuantType;
  blocksize: number;
  dtype: QuantState4bit['dtype'];
  shape: number[];
  nested_blocksize?: number;
  nested_offset?: number;
}

/** Parses and checks the JSON blob of a quant state. */
export function parseQuantJson(bytes: Uint8Array, where: string): QuantJson {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${where}: not a JSON quant state (${(e as Error).message})`);
  }
  const bad = (field: string, want: string) => new Error(`${where}: "${field}" must be ${want}, got ${JSON.stringify(j[field])}`);
  if (j.quant_type !== 'nf4' && j.quant_type !== 'fp4') throw bad('quant_type', '"nf4" or "fp4"');
  if (!Number.isInteger(j.blocksize) || (j.blocksize as number) <= 0) throw bad('blocksize', 'a positive integer');
  if (!DTYPES.includes(j.dtype as QuantState4bit['dtype'])) throw bad('dtype', DTYPES.join(' | '));
  if (!Array.isArray(j.shape) || j.shape.length !== 2 || !j.shape.every((d) => Number.isInteger(d) && d > 0))
    throw bad('shape', '[out, in]');
  if ('nested_offset' in j && typeof j.nested_offset !== 'number') throw bad('nested_offset', 'a number');
  if ('nested_blocksize' in j && (!Number.isInteger(j.nested_blocksize) || (j.nested_blocksize as number) <= 0))
    throw bad('nested_blocksize', 'a positive integer');
  return j as unknown as QuantJson;
}

const expectEntry = (
  t: Map<string, SafetensorsEntry>,
  name: string,
  dtype: SafetensorsDtype[],
  shape: number[],
  file: string,
): SafetensorsEntry => {
  const e = t.get(name);
  if (!e) throw new Error(`${file}: missing quant-state tensor "${name}"`);
  if (!dtype.includes(e.dtype)) throw new Error(`${file}: tensor "${name}" has dtype ${e.dtype}, expected ${dtype.join(' or ')}`);
  if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${file}: tensor "${name}" has shape [${e.shape}], expected [${shape}] from its quant state`);
  }
  return e;
};

const f32 = (e: SafetensorsEntry): Float32Array => {
  const copy = e.bytes.slice();
  return new Float32Array(copy.buffer, 0, copy.length / 4);
};

/** A 4-bit linear's state from its tensors; every name, dtype and size checked against the JSON. */
export function entriesToState(prefix: string, t: Map<string, SafetensorsEntry>, quantKey: string, file: string): QuantState4bit {
  const j = parseQuantJson(expectEntry(t, quantKey, ['U8'], [t.get(quantKey)?.shape[0] ?? 0], file).bytes, `${file}: tensor "${quantKey}"`);
  const keyType = quantKey.slice(quantKey.lastIndexOf('__') + 2);
  if (keyType !== j.quant_type) throw new Error(`${file}: tensor "${quantKey}" says quant_type "${j.quant_type}"`);
  const n = j.shape[0] * j.shape[1];
  const nblocks = Math.ceil(n / j.blocksize);
  const w = t.get(`${prefix}weight`);
  if (!w) throw new Error(`${file}: missing packed weight "${prefix}weight"`);
  if (w.dtype !== 'U8' && w.dtype !== 'F16' && w.dtype !== 'BF16' && w.dtype !== 'F32')
    throw new Error(`${file}: tensor "${prefix}weight" has dtype ${w.dtype}, expected U8 (packed 4-bit)`);
  if (w.bytes.length !== Math.ceil(n / 2)) {
    throw new Error(
      `${file}: packed weight "${prefix}weight" holds ${w.bytes.length} bytes, shape [${j.shape}] needs ${Math.ceil(n / 2)} (truncated or wrong shape)`,
    );
  }
  const doubleQuant = j.nested_offset !== undefined;
  const absmaxE = expectEntry(t, `${prefix}weight.absmax`, [doubleQuant ? 'U8' : 'F32'], [nblocks], file);
  const state: QuantState4bit = {
    quantType: j.quant_type,
    blockSize: j.blocksize,
    dtype: j.dtype,
    shape: [...j.shape],
    packed: w.bytes.slice(),
    absmax: doubleQuant ? absmaxE.bytes.slice() : f32(absmaxE),
    quantMap: f32(expectEntry(t, `${prefix}weight.quant_map`, ['F32'], [16], file)),
  };
  if (doubleQuant) {
    const nbs = j.nested_blocksize ?? 256;
    state.nested = {
      absmax: f32(expectEntry(t, `${prefix}weight.nested_absmax`, ['F32'], [Math.ceil(nblocks / nbs)], file)),
      code: f32(expectEntry(t, `${prefix}weight.nested_quant_map`, ['F32'], [256], file)),
      blockSize: nbs,
      offset: j.nested_offset!,
    };
  }
  return state;
}
