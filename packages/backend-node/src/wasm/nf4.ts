import * as tf from '@tensorflow/tfjs-core';
import { nf4MatMul, registerPeftKernel, type Nf4MatMulAttrs, type Nf4MatMulInput, type PeftKernelArgs } from '@peftjs/core';
import { WasmGemm } from './gemm/gemm.js';
import { gemmFor, ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { fastPaths, onFastPathsChange } from './state.js';

type Info = tf.TensorInfo;

/** gemmNf4's signature in the GEMM module (byte addresses and strides; see gemm/wat-nf4.ts). */
type GemmNf4Fn = (
  a: number,
  sam: number,
  sak: number,
  q: number,
  sc: number,
  code: number,
  sk: number,
  sn: number,
  bsh: number,
  bs: number,
  c: number,
  ldc: number,
  M: number,
  N: number,
  K: number,
  work: number,
) => void;

/** gemvNf4's signature (M = 1 or 2, y = x·Wᵀ only). */
type GemvNf4Fn = (
  a: number,
  sam: number,
  q: number,
  sc: number,
  code: number,
  c: number,
  ldc: number,
  M: number,
  N: number,
  K: number,
  bsh: number,
) => void;

/** scalesNf4's signature (double-quantized block scales). */
type ScalesNf4Fn = (codes: number, nestedCode: number, nestedAbsmax: number, nbs: number, offset: number, dst: number, n: number) => void;

/** The 4-bit GEMM bound to one backend's heap, with its own scratch (one thread). */
interface Nf4Gemm {
  fn: GemmNf4Fn;
  gemv: GemvNf4Fn;
  scales: ScalesNf4Fn;
  memory: WebAssembly.Memory;
  work: number;
}

const bound = new WeakMap<object, Nf4Gemm | null>();

/** The module's `gemmNf4` on this backend's heap (made once), or null when the internals are missing. */
function nf4GemmFor(backend: WasmHeapBackend): Nf4Gemm | null {
  if (bound.has(backend)) return bound.get(backend)!;
  const g = gemmFor(backend);
  let out: Nf4Gemm | null = null;
  if (g) {
    const work = (backend.wasm._malloc(WasmGemm.scratchBytes + 16) + 15) & ~15;
    const gemm = new WasmGemm(g.memory, work);
    const instance = new WebAssembly.Instance(gemm.module, { env: { memory: g.memory } });
    out = {
      fn: instance.exports['gemmNf4'] as GemmNf4Fn,
      gemv: instance.exports['gemvNf4'] as GemvNf4Fn,
      scales: instance.exports['scalesNf4'] as ScalesNf4Fn,
      memory: g.memory,
      work,
    };
  }
  bound.set(backend, out);
  return out;
}

/** Rows of x up to which y = x·Wᵀ skips packing (`gemvNf4`; the module handles 1 or 2). */
const GEMV_NF4_MAX_ROWS = 2;

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

function expectInput(t: Info, name: Nf4MatMulInput, dtype: tf.DataType, minSize: number): void {
  if (t.dtype !== dtype || size(t.shape) < minSize)
    throw new Error(
      `PeftNf4MatMul on wasm: input "${name}" must be ${dtype} with at least ${minSize} elements, got ${t.dtype} [${t.shape}]`,
    );
}

/** Floats before the block scales in the tables buffer: the 16 code values, then their 4 byte planes (64 bytes). */
const TABLE_HEAD = 32;

/**
 * Writes the 16 code values, their byte planes (plane b: byte b of each value, for the SIMD decoder)
 * and the block scales (float32, bitsandbytes' order of operations, so W is bit-identical to the op's
 * fallback) at `dst` on the heap: [code(16), planes(16), scale(nblocks)].
 */
function writeTables(
  g: Nf4Gemm,
  dst: number,
  backend: WasmHeapBackend,
  inputs: Record<Nf4MatMulInput, Info>,
  attrs: Nf4MatMulAttrs,
  nblocks: number,
): void {
  const heap = g.memory.buffer;
  const out = new Float32Array(heap, dst, TABLE_HEAD + nblocks);
  out.set(new Float32Array(heap, ptrOf(backend, inputs.code), 16));
  const bytes = new Uint8Array(heap, dst, 128);
  for (let b = 0; b < 4; b++) for (let c = 0; c < 16; c++) bytes[64 + 16 * b + c] = bytes[4 * c + b]!;
  const scales = dst + 4 * TABLE_HEAD;
  if (!attrs.doubleQuant) out.set(new Float32Array(heap, ptrOf(backend, inputs.absmax), nblocks), TABLE_HEAD);
  else {
    const [codes, nestedCode, nestedAbsmax] = [inputs.absmax, inputs.nestedCode, inputs.nestedAbsmax].map((t) => ptrOf(backend, t));
    g.scales(codes!, nestedCode!, nestedAbsmax!, attrs.nestedBlockSize, Math.fround(attrs.offset), scales, nblocks);
  }
}

/**
 * `PeftNf4MatMul` on wasm: y = x·Wᵀ (or x·W when `transposed`) with W decoded from its 4-bit codes
 * into the GEMM's packed B panels (gemm/wat-nf4.ts): no float copy of W, one decode per call. x may
 * have leading axes ([..., K] → [..., N]).
 */
export function wasmNf4MatMul({ inputs, attrs, backend }: PeftKernelArgs<Nf4MatMulInput, Nf4MatMulAttrs>): Info {
  const be = backend as unknown as WasmHeapBackend;
  const g = nf4GemmFor(be);
  if (!g) throw new Error('PeftNf4MatMul: the wasm backend does not expose its heap (tfjs-backend-wasm 4.22 expected)');
  const { outFeatures: O, inFeatures: I, blockSize: bs, transposed } = attrs;
  const [K, N] = transposed ? [O, I] : [I, O];
  const { x } = inputs;
  if (x.dtype !== 'float32' || x.shape[x.shape.length - 1] !== K)
    throw new Error(`PeftNf4MatMul on wasm: input "x" must be float32 [..., ${K}], got ${x.dtype} [${x.shape}]`);
  const n = O * I;
  const nblocks = Math.ceil(n / bs);
  expectInput(inputs.packed, 'packed', 'int32', Math.ceil(n / 8));
  expectInput(inputs.code, 'code', 'float32', 16);
  if (attrs.doubleQuant) {
    expectInput(inputs.absmax, 'absmax', 'int32', Math.ceil(nblocks / 4));
    expectInput(inputs.nestedAbsmax, 'nestedAbsmax', 'float32', Math.ceil(nblocks / attrs.nestedBlockSize));
    expectInput(inputs.nestedCode, 'nestedCode', 'float32', 256);
  } else expectInput(inputs.absmax, 'absmax', 'float32', nblocks);
  const M = size(x.shape) / K;
  const y = be.makeOutput([...x.shape.slice(0, -1), N], 'float32');
  if (M * N === 0) return y;
  if (K === 0) {
    new Float32Array(g.memory.buffer, ptrOf(be, y), M * N).fill(0);
    return y;
  }
  const tables = be.makeOutput([TABLE_HEAD + nblocks], 'float32');
  try {
    const pt = ptrOf(be, tables);
    writeTables(g, pt, be, inputs, attrs, nblocks);
    const bsh = Number.isInteger(Math.log2(bs)) ? Math.log2(bs) : -1;
    const [px, pq, py, sc] = [ptrOf(be, x), ptrOf(be, inputs.packed), ptrOf(be, y), pt + 4 * TABLE_HEAD];
    // decoding (1–2 rows): dot products straight from the codes; otherwise decode into the GEMM's panels
    if (!transposed && M <= GEMV_NF4_MAX_ROWS && K % 16 === 0 && bsh >= 4) g.gemv(px, 4 * K, pq, sc, pt, py, 4 * N, M, N, K, bsh);
    else g.fn(px, 4 * K, 4, pq, sc, pt, transposed ? I : 1, transposed ? 1 : I, bsh, bs, py, 4 * N, M, N, K, g.work);
  } finally {
    be.disposeData(tables.dataId, true);
  }
  return y;
}

let unregister: (() => void) | null = null;
let listening = false;

/** Registers the wasm `PeftNf4MatMul` kernel while the `gemm` fast path is on (the op's tfjs fallback runs otherwise). */
export function registerWasmNf4Kernel(): void {
  if (!listening) {
    listening = true;
    onFastPathsChange(registerWasmNf4Kernel);
  }
  if (fastPaths.gemm && !unregister) unregister = registerPeftKernel(nf4MatMul, 'wasm', wasmNf4MatMul);
  else if (!fastPaths.gemm && unregister) {
    unregister();
    unregister = null;
  }
}
