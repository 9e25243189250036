import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeNf4, nf4MatMul, Rng, type Nf4MatMulAttrs, type Nf4MatMulInput } from '@peftjs/core';
import { decodeEntry, readSafetensorsFile } from '@peftjs/core/io';
import { setupBackend, setWasmFastPaths } from '../src/index.js';

/** `$PEFTJS_FIXTURES`, default `<repo>/../shared/fixtures`. */
const FIXTURES = resolve(process.env['PEFTJS_FIXTURES'] ?? fileURLToPath(new URL('../../../../shared/fixtures', import.meta.url)));
const QLORA = join(FIXTURES, 'qlora');

/**
 * The 4-bit code tables and 8-bit nested maps the fixture folders store (NF4 and FP4 in today's
 * folders), plus a random table and map: the kernel must decode any table it is given.
 */
async function tables(): Promise<{ codes: Array<[string, Float32Array]>; nested: Float32Array }> {
  const rng = new Rng(11);
  const codes: Array<[string, Float32Array]> = [['random', Float32Array.from({ length: 16 }, () => rng.normal())]];
  let nested = Float32Array.from({ length: 256 }, () => rng.normal());
  const dirs = existsSync(QLORA) ? readdirSync(QLORA).filter((d) => existsSync(join(QLORA, d, 'model.safetensors'))) : [];
  for (const d of dirs) {
    const file = await readSafetensorsFile(join(QLORA, d, 'model.safetensors'));
    for (const [name, e] of file.tensors) {
      const v = Float32Array.from(decodeEntry(e));
      const known = (t: Float32Array) => codes.some(([, c]) => c.every((x, i) => x === t[i]));
      if (name.endsWith('.weight.quant_map') && !known(v)) codes.push([`${d}:${name.split('.').slice(-3, -2)}`, v]);
      if (name.endsWith('.weight.nested_quant_map')) nested = v;
    }
  }
  return { codes, nested };
}

interface Quantized {
  inputs: Omit<Record<Nf4MatMulInput, tf.Tensor>, 'x'>;
  attrs: Omit<Nf4MatMulAttrs, 'transposed'>;
}

/**
 * Random 4-bit codes and scales of a weight's size (|W| ≲ 0.1) for W [out, in] (the kernel decodes any
 * bytes: no quantizer needed).
 */
function randomQuant(
  out: number,
  inF: number,
  blockSize: number,
  doubleQuant: boolean,
  code: Float32Array,
  nested: Float32Array,
  seed: number,
): Quantized {
  const rng = new Rng(seed);
  const n = out * inF;
  const nblocks = Math.ceil(n / blockSize);
  const words = (bytes: number) => Int32Array.from({ length: Math.ceil(bytes / 4) }, () => rng.nextUint32() | 0);
  const nestedBlockSize = 256;
  const inputs = {
    packed: tf.tensor1d(words(Math.ceil(n / 2)), 'int32'),
    absmax: doubleQuant
      ? tf.tensor1d(words(nblocks), 'int32')
      : tf.tensor1d(Float32Array.from({ length: nblocks }, () => 0.01 + 0.05 * rng.next())),
    code: tf.tensor1d(code),
    nestedAbsmax: tf.tensor1d(
      Float32Array.from({ length: doubleQuant ? Math.ceil(nblocks / nestedBlockSize) : 1 }, () => 0.02 + 0.03 * rng.next()),
    ),
    nestedCode: doubleQuant ? tf.tensor1d(nested) : tf.tensor1d([0]),
  };
  return { inputs, attrs: { outFeatures: out, inFeatures: inF, blockSize, doubleQuant, nestedBlockSize, offset: 0.031 } };
}

/** |a − e| ≤ 1e-5 + 1e-4·|e| element by element. */
function expectNear(actual: Float32Array, expected: Float32Array | Float64Array): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (1e-5 + 1e-4 * Math.abs(expected[i]!));
    if (!(excess <= worst)) [worst, at] = [excess, i];
  }
  expect(worst, `at ${at}: ${actual[at]} vs ${expected[at]}`).toBeLessThanOrEqual(0);
}

/** y = x·Wᵀ (or x·W) in float64 from the dequantized W. */
function reference(x: Float32Array, w: Float32Array, rows: number, out: number, inF: number, transposed: boolean): Float64Array {
  const [K, N] = transposed ? [out, inF] : [inF, out];
  const y = new Float64Array(rows * N);
  for (let m = 0; m < rows; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k]! * w[transposed ? k * inF + n : n * inF + k]!;
      y[m * N + n] = s;
    }
  return y;
}

// [out, in, blockSize]: odd sizes (not multiples of 8 or of the block), blocks crossing rows, K past
// KC (256) and N past NC (512), a block larger than W, a block size that is not a power of two
const SHAPES: Array<[number, number, number]> = [
  [45, 77, 64],
  [77, 45, 32],
  [37, 300, 128],
  [530, 61, 64],
  [19, 611, 4096],
  [29, 35, 96],
  [45, 96, 64],
];
const ROWS = [1, 2, 3, 37, 128];

describe('PeftNf4MatMul on wasm (4-bit decode fused into the GEMM)', () => {
  let codes: Array<[string, Float32Array]> = [];
  let nested: Float32Array = new Float32Array(256);
  beforeAll(async () => {
    await setupBackend({ prefer: 'wasm' });
    ({ codes, nested } = await tables());
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('is registered on wasm while the GEMM fast path is on', () => {
    expect(tf.getKernel('PeftNf4MatMul', 'wasm')).toBeDefined();
    setWasmFastPaths({ gemm: false });
    try {
      expect(tf.getKernel('PeftNf4MatMul', 'wasm')).toBeUndefined();
    } finally {
      setWasmFastPaths({ gemm: true });
    }
    expect(tf.getKernel('PeftNf4MatMul', 'wasm')).toBeDefined();
  });

  it('equals the tfjs fallback and dequantize-then-matmul for every code table, both orientations, double quant on/off, odd sizes and N = 1, 2, 3, 37, 128', async () => {
    let seed = 1;
    for (const [table, code] of codes)
      for (const [out, inF, blockSize] of SHAPES)
        for (const doubleQuant of [true, false])
          for (const transposed of [false, true]) {
            const rows = ROWS[seed % ROWS.length]!;
            const q = randomQuant(out, inF, blockSize, doubleQuant, code, nested, seed++);
            const attrs = { ...q.attrs, transposed };
            const x = tf.randomNormal([rows, transposed ? out : inF], 0, 1, 'float32', seed);
            const label = `${table} [${out}, ${inF}] block ${blockSize} dq ${doubleQuant} transposed ${transposed} N ${rows}`;
            await tf.setBackend('cpu');
            const w = dequantizeNf4(q.inputs, attrs);
            const fallback = nf4MatMul({ x, ...q.inputs }, attrs);
            const expected = reference(x.dataSync() as Float32Array, w.dataSync() as Float32Array, rows, out, inF, transposed);
            await tf.setBackend('wasm');
            const before = tf.memory().numTensors;
            const y = nf4MatMul({ x, ...q.inputs }, attrs);
            expect(tf.memory().numTensors, label).toBe(before + 1);
            expect(y.shape, label).toEqual(fallback.shape);
            const actual = y.dataSync() as Float32Array;
            expectNear(actual, expected);
            expectNear(actual, fallback.dataSync() as Float32Array);
            tf.dispose([y, w, fallback, x, ...Object.values(q.inputs)]);
          }
  });

  it('decoding rows (N = 1, 2; in a multiple of 16: dot products straight from the codes) equal the fallback', async () => {
    let seed = 500;
    for (const [, code] of codes)
      for (const [out, inF, blockSize] of [
        [45, 96, 64],
        [37, 64, 4096],
        [130, 48, 32],
        [9, 1040, 128],
      ] as const)
        for (const doubleQuant of [true, false])
          for (const rows of [1, 2]) {
            const q = randomQuant(out, inF, blockSize, doubleQuant, code, nested, seed++);
            const attrs = { ...q.attrs, transposed: false };
            const x = tf.randomNormal([rows, inF], 0, 1, 'float32', seed);
            await tf.setBackend('cpu');
            const w = dequantizeNf4(q.inputs, attrs);
            const expected = reference(x.dataSync() as Float32Array, w.dataSync() as Float32Array, rows, out, inF, false);
            const fallback = nf4MatMul({ x, ...q.inputs }, attrs);
            await tf.setBackend('wasm');
            const y = nf4MatMul({ x, ...q.inputs }, attrs);
            expectNear(y.dataSync() as Float32Array, expected);
            expectNear(y.dataSync() as Float32Array, fallback.dataSync() as Float32Array);
            tf.dispose([x, y, w, fallback, ...Object.values(q.inputs)]);
          }
  });

  it('all N from 1 to 20 and every row range, both orientations (no stale panel or edge tile)', async () => {
    const q = randomQuant(45, 77, 64, true, codes[0]![1], nested, 99);
    for (const transposed of [false, true])
      for (let rows = 1; rows <= 20; rows++) {
        const attrs = { ...q.attrs, transposed };
        const x = tf.randomNormal([rows, transposed ? 45 : 77], 0, 1, 'float32', rows);
        await tf.setBackend('cpu');
        const expected = nf4MatMul({ x, ...q.inputs }, attrs);
        await tf.setBackend('wasm');
        const y = nf4MatMul({ x, ...q.inputs }, attrs);
        expectNear(y.dataSync() as Float32Array, expected.dataSync() as Float32Array);
        tf.dispose([x, y, expected]);
      }
    tf.dispose(Object.values(q.inputs));
  });

  it('its gradient wrt x (the same kernel, transposed flipped) equals the fallback gradient; no tensor leaks', async () => {
    for (const transposed of [false, true]) {
      const q = randomQuant(45, 77, 64, true, codes[codes.length - 1]![1], nested, 7);
      const attrs = { ...q.attrs, transposed };
      const x = tf.randomNormal([37, transposed ? 45 : 77], 0, 1, 'float32', 3);
      const dy = tf.randomNormal([37, transposed ? 77 : 45], 0, 1, 'float32', 4);
      const grad = () => tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(nf4MatMul({ x: xi, ...q.inputs }, attrs), dy)))(x);
      await tf.setBackend('cpu');
      const expected = grad();
      await tf.setBackend('wasm');
      grad().dispose();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) grad().dispose();
      expect(tf.memory().numTensors).toBe(before);
      const actual = grad();
      expectNear(actual.dataSync() as Float32Array, expected.dataSync() as Float32Array);
      tf.dispose([actual, expected, x, dy, ...Object.values(q.inputs)]);
    }
  });

  it('a wrong input is an error naming it', async () => {
    await tf.setBackend('wasm');
    const q = randomQuant(45, 77, 64, true, codes[0]![1], nested, 5);
    const short = tf.tensor1d([1, 2], 'int32');
    const x = tf.ones([2, 77]);
    const before = tf.memory().numTensors;
    expect(() => nf4MatMul({ x, ...q.inputs, packed: short }, { ...q.attrs, transposed: false })).toThrow(/input "packed"/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([short, x, ...Object.values(q.inputs)]);
  });
});
