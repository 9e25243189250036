import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors, type SafetensorsEntry } from '@peftjs/core/io';
import { FIXTURES } from '@peftjs/testing/fixtures';
import { createDynamicMap, midpoints } from '@peftjs/core';
import { DYNAMIC_MAP, NF4_CODE } from '../src/codes.js';
import { dequantize4bit, quantize4bit, bitsPerParameter, type QuantState4bit } from '../src/math.js';
import { entriesToState, findQuantKey, quantStateJson, stateToEntries } from '../src/bnb-format.js';

const QLORA = join(FIXTURES, 'qlora');
const folders = existsSync(QLORA) ? readdirSync(QLORA).filter((d) => existsSync(join(QLORA, d, 'source.safetensors'))) : [];

const read = (f: string) => parseSafetensors(new Uint8Array(readFileSync(f)), f).tensors;
const f32 = (e: SafetensorsEntry) => new Float32Array(e.bytes.slice().buffer);
const bf16 = (e: SafetensorsEntry) => {
  const u16 = new Uint16Array(e.bytes.slice().buffer);
  return Float32Array.from(u16, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]);
};

describe.skipIf(folders.length === 0)('bitsandbytes 4-bit quantization against the fixtures', () => {
  for (const folder of folders) {
    it(`${folder}: quantizing source.safetensors gives model.safetensors' bytes; dequantizing gives dequantized.safetensors`, () => {
      const dir = join(QLORA, folder);
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
        quant_type: 'nf4' | 'fp4';
        double_quant: boolean;
        dtype: QuantState4bit['dtype'];
        blocksize: number;
      };
      const source = read(join(dir, 'source.safetensors'));
      const model = read(join(dir, 'model.safetensors'));
      const deq = read(join(dir, 'dequantized.safetensors'));
      expect(source.size).toBeGreaterThan(0);
      for (const [name, e] of source) {
        const prefix = name.slice(0, -'weight'.length);
        const values = e.dtype === 'BF16' ? bf16(e) : f32(e);
        const state = quantize4bit(values, e.shape, {
          quantType: manifest.quant_type,
          blockSize: manifest.blocksize,
          doubleQuant: manifest.double_quant,
          dtype: manifest.dtype,
        });
        for (const got of stateToEntries(prefix, state)) {
          const want = model.get(got.name);
          expect(want, got.name).toBeDefined();
          expect([got.name, got.dtype, got.shape]).toEqual([got.name, want!.dtype, want!.shape]);
          expect(Buffer.from(got.bytes).equals(Buffer.from(want!.bytes)), `${got.name} bytes`).toBe(true);
        }
        // reading the file's tensors back gives the same state, and bitsandbytes' dequantization
        const key = findQuantKey(prefix, model.keys(), 'model.safetensors')!;
        const loaded = entriesToState(prefix, model, key, 'model.safetensors');
        expect(quantStateJson(loaded)).toBe(quantStateJson(state));
        expect(Buffer.from(dequantize4bit(loaded).buffer).equals(Buffer.from(deq.get(name)!.bytes))).toBe(true);
      }
    });
  }
});

describe('codes and accounting', () => {
  it('a value exactly on an NF4 midpoint goes to the lower code, just above to the upper; element 2j is the high nibble', () => {
    const mids = midpoints(NF4_CODE);
    for (let k = 0; k < 15; k++) {
      const on = quantize4bit(Float32Array.from([1, mids[k]]), [1, 2], { blockSize: 32, doubleQuant: false });
      expect(on.packed[0]).toBe((15 << 4) | k);
    }
    const s = quantize4bit(Float32Array.from([-1, 1, 0]), [1, 3], { blockSize: 32, doubleQuant: false });
    expect([...s.packed]).toEqual([0x0f, 0x77]);
  });

  it('double quantization stores 4.127 bits per weight for large matrices (4.5 without)', () => {
    const n = 4096 * 64;
    const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.02);
    expect(bitsPerParameter(quantize4bit(w, [64, 4096]))).toBeCloseTo(4 + 8 / 64 + 32 / (64 * 256), 6);
    expect(bitsPerParameter(quantize4bit(w, [64, 4096], { doubleQuant: false }))).toBe(4.5);
    expect(DYNAMIC_MAP.length).toBe(256);
  });

  it("core's createDynamicMap(signed) is torch's dump within 2 ulp per entry (linspace rounding differs per build)", () => {
    const a = new Int32Array(createDynamicMap(true).buffer);
    const b = new Int32Array(DYNAMIC_MAP.buffer);
    for (let i = 0; i < 256; i++) expect(Math.abs(a[i] - b[i]), `entry ${i}`).toBeLessThanOrEqual(2);
    const u = createDynamicMap(false);
    expect([u[0], u[255], u.length]).toEqual([0, 1, 256]);
  });

  it('unknown quant types and block sizes are errors', () => {
    expect(() => quantize4bit(new Float32Array(4), [2, 2], { blockSize: 48 })).toThrow(/block size 48/);
    expect(() => quantize4bit(new Float32Array(4), [2, 2], { quantType: 'int4' as 'nf4' })).toThrow(/unknown quant type "int4"/);
  });
});
