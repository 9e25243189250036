import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeEntry,
  dtypeItemSize,
  entryToTensor,
  f16BitsToF32,
  f16ToF32,
  f32ToBf16Bits,
  f32ToF16,
  f32ToF16Bits,
  parseSafetensors,
  serializeEntries,
  serializeSafetensors,
} from '../src/io/index.js';
import type { SafetensorsDtype, SafetensorsEntry } from '../src/io/index.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = process.env.PEFTJS_FIXTURES ?? path.resolve(REPO_ROOT, '../shared/fixtures');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)],
  );
}

const fixtureFiles = existsSync(FIXTURES)
  ? walk(FIXTURES)
      .filter((f) => f.endsWith('.safetensors'))
      .map((f) => path.relative(FIXTURES, f))
      .sort()
  : [];

function readFixture(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(FIXTURES, relative)));
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A safetensors buffer with this header text (padded) and `dataLength` zero bytes of data. */
function fileWithHeader(header: string | object, dataLength: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  return out;
}

function entry(name: string, dtype: SafetensorsDtype, shape: number[], data: ArrayBufferView): SafetensorsEntry {
  return { name, dtype, shape, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function bitsOf(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

describe('safetensors files written by Python', () => {
  it('are found by walking the fixtures folder (set PEFTJS_FIXTURES if it lives elsewhere)', () => {
    expect(existsSync(FIXTURES), `fixtures folder ${FIXTURES}`).toBe(true);
    expect(fixtureFiles.length).toBeGreaterThan(20);
  });

  it.each(fixtureFiles)('%s: each tensor holds shape × item size bytes, and re-serializing gives the file byte for byte', (file) => {
    const bytes = readFixture(file);
    const parsed = parseSafetensors(bytes, file);
    expect(parsed.tensors.size).toBeGreaterThan(0);
    for (const t of parsed.tensors.values()) expect(t.bytes.length).toBe(numel(t.shape) * dtypeItemSize(t.dtype));
    const again = serializeEntries(parsed.tensors.values(), parsed.metadata);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  it.each(fixtureFiles)('%s: every tensor decodes to one value per element', (file) => {
    const parsed = parseSafetensors(readFixture(file), file);
    for (const t of parsed.tensors.values()) expect(decodeEntry(t, file).length).toBe(numel(t.shape));
  });

  it('decodes io.safetensors input_ids and attention_mask (int64) to int32 [2,7] with the values Python wrote', () => {
    const { tensors } = parseSafetensors(readFixture('llama/lora/io.safetensors'), 'io.safetensors');
    const ids = entryToTensor(tensors.get('input_ids')!);
    const mask = entryToTensor(tensors.get('attention_mask')!);
    expect(tensors.get('input_ids')!.dtype).toBe('I64');
    expect(ids.dtype).toBe('int32');
    expect(ids.shape).toEqual([2, 7]);
    expect(ids.arraySync()).toEqual([
      [47, 83, 38, 53, 76, 116, 24],
      [121, 15, 49, 23, 105, 26, 30],
    ]);
    expect(mask.arraySync()).toEqual([
      [1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 0, 0],
    ]);
    tf.dispose([ids, mask]);
  });

  it('decodes io.safetensors logits_base (float32) to the values Python wrote', () => {
    const { tensors, metadata } = parseSafetensors(readFixture('llama/lora/io.safetensors'), 'io.safetensors');
    expect(metadata).toEqual({ format: 'pt' });
    const logits = decodeEntry(tensors.get('logits_base')!);
    expect(logits).toBeInstanceOf(Float32Array);
    expect(Array.from(logits.subarray(0, 3))).toEqual([-0.7841007113456726, -1.496528148651123, -0.30589133501052856]);
  });
});

describe('serializeSafetensors', () => {
  it('writes mixed dtypes byte-identically to Python safetensors: widest dtype first, then by name', () => {
    // safetensors 0.8.0: save({weight f32, mask bool, ids i64, half f16, "10" i32, "9" i32, bytes u8}, metadata={format, author})
    const python = Buffer.from(
      'yAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJhdXRob3IiOiJwZWZ0anMiLCJmb3JtYXQiOiJwdCJ9LCJpZHMiOnsiZHR5cGUiOiJJNjQiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOlswLDE2XX0sIndlaWdodCI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzE2LDI0XX0sIjEwIjp7ImR0eXBlIjoiSTMyIiwic2hhcGUiOlsxXSwiZGF0YV9vZmZzZXRzIjpbMjQsMjhdfSwiOSI6eyJkdHlwZSI6IkkzMiIsInNoYXBlIjpbMV0sImRhdGFfb2Zmc2V0cyI6WzI4LDMyXX0sImhhbGYiOnsiZHR5cGUiOiJGMTYiLCJzaGFwZSI6WzFdLCJkYXRhX29mZnNldHMiOlszMiwzNF19LCJieXRlcyI6eyJkdHlwZSI6IlU4Iiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbMzQsMzZdfSwibWFzayI6eyJkdHlwZSI6IkJPT0wiLCJzaGFwZSI6WzNdLCJkYXRhX29mZnNldHMiOlszNiwzOV19fSAgICADAAAAAAAAAP//////////AADAPwAAAMAHAAAACAAAAAA4/wABAAE=',
      'base64',
    );
    const weight = tf.tensor1d([1.5, -2]);
    const mask = tf.tensor1d([true, false, true], 'bool');
    const ours = serializeSafetensors(
      {
        weight,
        mask,
        ids: { dtype: 'I64', shape: [2], data: new BigInt64Array([3n, -1n]) },
        half: { dtype: 'F16', shape: [1], data: new Float32Array([0.5]) },
        '10': tf.tensor1d([7], 'int32'),
        '9': { dtype: 'I32', shape: [1], data: new Int32Array([8]) },
        bytes: { dtype: 'U8', shape: [2], data: new Uint8Array([255, 0]) },
      },
      { metadata: { format: 'pt', author: 'peftjs' } },
    );
    expect(Buffer.from(ours).toString('base64')).toBe(python.toString('base64'));
  });

  it('writes no tensors as Python does: "{}" padded with six spaces', () => {
    expect(Buffer.from(serializeSafetensors({})).toString('base64')).toBe('CAAAAAAAAAB7fSAgICAgIA==');
  });

  it('round-trips float32, int32 and bool tf tensors exactly', () => {
    const floats = new Float32Array([0, -0, 1.5, -3.25e-40, 3.4028234663852886e38, Infinity, -Infinity, NaN, Math.PI]);
    const ints = new Int32Array([0, -1, 2147483647, -2147483648, 42, 7]);
    const sources = {
      floats: tf.tensor(floats, [3, 3]),
      ints: tf.tensor(ints, [2, 3], 'int32'),
      flags: tf.tensor([true, false, false, true], [2, 2], 'bool'),
      scalar: tf.scalar(2.5),
    };
    const { tensors } = parseSafetensors(serializeSafetensors(sources), 'roundtrip.safetensors');
    expect([...tensors.values()].map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['floats', 'F32', [3, 3]],
      ['scalar', 'F32', []],
      ['ints', 'I32', [2, 3]],
      ['flags', 'BOOL', [2, 2]],
    ]);
    const back = Object.fromEntries([...tensors].map(([name, e]) => [name, entryToTensor(e)]));
    expect(bitsOf(back.floats.dataSync() as Float32Array)).toEqual(bitsOf(floats));
    expect(back.ints.dtype).toBe('int32');
    expect(Array.from(back.ints.dataSync())).toEqual(Array.from(ints));
    expect(back.flags.dtype).toBe('bool');
    expect(back.flags.arraySync()).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(back.scalar.arraySync()).toBe(2.5);
    tf.dispose([...Object.values(sources), ...Object.values(back)]);
  });

  it('writes float tensors as F16 within half precision (relative error at most 2^-11)', () => {
    const values = tf.randomNormal([64], 0, 100, 'float32', 1);
    const file = serializeSafetensors({ w: values }, { floatDtype: 'F16' });
    const w = parseSafetensors(file).tensors.get('w')!;
    expect(w.dtype).toBe('F16');
    expect(w.bytes.length).toBe(128);
    const original = values.dataSync();
    const decoded = decodeEntry(w);
    original.forEach((x, i) => expect(Math.abs(decoded[i] - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11));
    values.dispose();
  });

  it('writes float tensors as BF16 within bfloat16 precision (relative error at most 2^-8)', () => {
    const values = tf.randomNormal([64], 0, 1e6, 'float32', 2);
    const w = parseSafetensors(serializeSafetensors({ w: values }, { floatDtype: 'BF16' })).tensors.get('w')!;
    expect(w.dtype).toBe('BF16');
    const original = values.dataSync();
    const decoded = decodeEntry(w);
    original.forEach((x, i) => expect(Math.abs(decoded[i] - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -8));
    values.dispose();
  });

  it('converts float32 to F16 bits exactly as numpy astype(float16) does', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // halfway to the next binade rounds up to Infinity
      [1e-8, 0x0000], // below half the smallest subnormal
      [1e-7, 0x0002], // subnormal
      [6e-5, 0x03ef], // largest subnormals
      [2 ** -25, 0x0000], // tie, to even
      [3 * 2 ** -26, 0x0001],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [2049, 0x6800], // tie, to even (down)
      [2051, 0x6802], // tie, to even (up)
      [-0, 0x8000],
      [1e10, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [NaN, 0x7e00],
    ];
    expect(cases.map(([x]) => f32ToF16Bits(x))).toEqual(cases.map(([, bits]) => bits));
  });

  it('converts float32 to BF16 bits as torch does (round to nearest even, NaN 0x7fc0)', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-2, 0xc000],
      [65504, 0x4780],
      [1e-8, 0x322c],
      [0.1, 0x3dcd],
      [1 / 3, 0x3eab],
      [1e10, 0x5015],
      [2049, 0x4500],
      [-0, 0x8000],
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
      [NaN, 0x7fc0],
    ];
    expect(cases.map(([x]) => f32ToBf16Bits(x))).toEqual(cases.map(([, bits]) => bits));
  });

  it('keeps every one of the 65536 F16 bit patterns through decode then encode', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    expect(all.filter((h) => back[h] !== h)).toEqual(new Uint16Array(0));
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
  });

  it('round-trips raw F64, I64, I16, I8 and U8 data through decodeEntry', () => {
    const { tensors } = parseSafetensors(
      serializeSafetensors({
        f64: { dtype: 'F64', shape: [2], data: new Float32Array([0.5, -7]) },
        i64: { dtype: 'I64', shape: [3], data: new Int32Array([-2147483648, -1, 2147483647]) },
        i16: { dtype: 'I16', shape: [2], data: new Int32Array([-32768, 32767]) },
        i8: { dtype: 'I8', shape: [2], data: new Int32Array([-128, 127]) },
        u8: { dtype: 'U8', shape: [2], data: new Int32Array([0, 255]) },
      }),
    );
    const decoded = Object.fromEntries([...tensors].map(([name, e]) => [name, Array.from(decodeEntry(e))]));
    expect(decoded).toEqual({
      f64: [0.5, -7],
      i64: [-2147483648, -1, 2147483647],
      i16: [-32768, 32767],
      i8: [-128, 127],
      u8: [0, 255],
    });
    expect(tensors.get('i64')!.bytes).toEqual(new Uint8Array(new BigInt64Array([-2147483648n, -1n, 2147483647n]).buffer));
  });

  it('rejects an I64 value outside int32, naming the tensor and the file', () => {
    const ids = entry('input_ids', 'I64', [2], new BigInt64Array([1n, 2n ** 40n]));
    expect(() => decodeEntry(ids, 'io.safetensors')).toThrow(
      'io.safetensors: tensor "input_ids": I64 value 1099511627776 at index 1 is outside the int32 range',
    );
  });

  it('rejects a raw source whose data does not fit its dtype or shape', () => {
    expect(() => serializeSafetensors({ x: { dtype: 'I8', shape: [1], data: new Int32Array([300]) } })).toThrow(
      'tensor "x": value 300 at index 0 does not fit I8',
    );
    expect(() => serializeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(
      'tensor "x": shape [3] holds 3 values, data has 2',
    );
    expect(() => serializeSafetensors({ x: { dtype: 'I32', shape: [1], data: new Float32Array(1) } })).toThrow(
      'tensor "x": cannot write I32 from a Float32Array',
    );
  });
});

describe('parseSafetensors', () => {
  const name = 'adapter_model.safetensors';
  const valid = () => fileWithHeader({ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] } }, 24);

  it('returns views into the file buffer, not copies, even for 100 MB of tensors', () => {
    const size = 100 * 1024 * 1024;
    const file = fileWithHeader(
      {
        big: { dtype: 'F32', shape: [size / 8], data_offsets: [0, size / 2] },
        more: { dtype: 'U8', shape: [size / 2], data_offsets: [size / 2, size] },
      },
      size,
    );
    const { tensors } = parseSafetensors(file, name);
    const big = tensors.get('big')!;
    expect(big.bytes.buffer).toBe(file.buffer);
    expect(big.bytes.byteOffset).toBe(file.length - size);
    expect(tensors.get('more')!.bytes.byteOffset).toBe(file.length - size / 2);
  });

  it('lists tensors in data order, whatever the header order', () => {
    const file = fileWithHeader(
      { b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] }, a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } },
      4,
    );
    expect([...parseSafetensors(file, name).tensors.keys()]).toEqual(['a', 'b']);
  });

  it('rejects a file shorter than the 8-byte header length', () => {
    expect(() => parseSafetensors(new Uint8Array(5), name)).toThrow(`${name}: file is 5 bytes, shorter than the 8-byte header length`);
  });

  it('rejects a file cut short inside its data', () => {
    expect(() => parseSafetensors(valid().subarray(0, valid().length - 4), name)).toThrow(
      `${name}: tensor "a": data_offsets [0,24] end beyond the data section of 20 bytes`,
    );
  });

  it('rejects a header length of 9e18 without overflowing', () => {
    const file = valid();
    new DataView(file.buffer).setBigUint64(0, 9_000_000_000_000_000_000n, true);
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: header length 9000000000000000000 exceeds file size ${file.length}`);
  });

  it('rejects a header that is not JSON, with the parser message', () => {
    expect(() => parseSafetensors(fileWithHeader('{"a": ', 0), name)).toThrow(new RegExp(`^${name}: header is not valid JSON: .+`));
  });

  it('rejects a header that is not UTF-8', () => {
    const file = fileWithHeader('{"a": 1}', 0);
    file[10] = 0xff; // the "a"
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: header is not valid UTF-8`);
  });

  it('rejects a header that is a JSON array', () => {
    expect(() => parseSafetensors(fileWithHeader('[]', 0), name)).toThrow(`${name}: header must be a JSON object, got an array`);
  });

  it('rejects an unknown dtype', () => {
    const file = fileWithHeader({ a: { dtype: 'Q8', shape: [2], data_offsets: [0, 2] } }, 2);
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: tensor "a": unknown dtype "Q8"`);
  });

  it('rejects a shape that is not non-negative integers', () => {
    const file = fileWithHeader({ a: { dtype: 'U8', shape: [-2], data_offsets: [0, 2] } }, 2);
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: tensor "a": shape must be an array of non-negative integers, got [-2]`);
  });

  it('rejects data_offsets that are not [begin, end] with begin <= end', () => {
    const three = fileWithHeader({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2, 2] } }, 2);
    expect(() => parseSafetensors(three, name)).toThrow(
      `${name}: tensor "a": data_offsets must be [begin, end] non-negative integers, got [0,2,2]`,
    );
    const backwards = fileWithHeader({ a: { dtype: 'U8', shape: [0], data_offsets: [2, 0] } }, 2);
    expect(() => parseSafetensors(backwards, name)).toThrow(`${name}: tensor "a": data_offsets [2,0] end before begin`);
  });

  it('rejects a byte size that is not shape × item size', () => {
    const file = fileWithHeader({ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 20);
    expect(() => parseSafetensors(file, name)).toThrow(
      `${name}: tensor "a": shape [2,3] of F32 needs 24 bytes but data_offsets [0,20] hold 20`,
    );
  });

  it('rejects offsets beyond the data section', () => {
    const file = fileWithHeader({ a: { dtype: 'U8', shape: [400], data_offsets: [0, 400] } }, 24);
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: tensor "a": data_offsets [0,400] end beyond the data section of 24 bytes`);
  });

  it('rejects overlapping tensors', () => {
    const file = fileWithHeader(
      { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } },
      3,
    );
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: tensor "b": data_offsets [1,3] overlap tensor "a" [0,2]`);
  });

  it('rejects a gap between tensors, as Python does', () => {
    const file = fileWithHeader(
      { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [3, 5] } },
      5,
    );
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: data bytes [2,3) belong to no tensor (gap before tensor "b")`);
  });

  it('rejects bytes after the last tensor, as Python does', () => {
    const file = fileWithHeader({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 3);
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: data section is 3 bytes but the tensors cover only 2 (trailing bytes)`);
  });

  it('rejects __metadata__ that is not an object of strings', () => {
    const file = fileWithHeader({ __metadata__: { format: 1 } }, 0);
    expect(() => parseSafetensors(file, name)).toThrow(`${name}: __metadata__ value of "format" must be a string, got number 1`);
  });

  it('accepts zero-size tensors sharing an offset, as Python does', () => {
    const file = fileWithHeader(
      {
        empty: { dtype: 'F32', shape: [0, 4], data_offsets: [2, 2] },
        a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
        first: { dtype: 'U8', shape: [0], data_offsets: [0, 0] },
      },
      2,
    );
    expect([...parseSafetensors(file, name).tensors.keys()]).toEqual(['first', 'a', 'empty']);
  });
});
