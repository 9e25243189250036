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

/** The 4-bit GEMM bound to one backend's heap, with its own scratch (one thread). */
interface Nf4Gemm {
  fn: GemmNf4Fn;
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
    out = { fn: instance.exports['gemmNf4'] as GemmNf4Fn, memory: g.memory, work };
  }
  bound.set(backend, out);
  return out;
}

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

function expectInput(t: Info, name: Nf4MatMulInput, dtype: tf.DataType, minSize: number): void {
  if (t.dtype !== dtype || size(t.shape) < minSize)
    throw new Error(
      `PeftNf4MatMul on wasm: input "${name}" must be ${dtype} with at least ${minSize} elements, got ${t.dtype} [${t.shape}]`,
    );
}

/**
 * Writes the 16 code values and the block scales (float32, bitsandbytes' order of operations, so W
 * is bit-identical to the op's fallback) at `dst` on the heap: [code(16), scale(nblocks)].
 */
function writeTables(
  heap: ArrayBufferLike,
  dst: number,
  backend: WasmHeapBackend,
  inputs: Record<Nf4MatMulInput, Info>,
  attrs: Nf4MatMulAttrs,
  nblocks: number,
): void {
  const f32 = (t: Info, n: number) => new Float32Array(heap, ptrOf(backend, t), n);
  const out = new Float32Array(heap, dst, 16 + nblocks);
  out.set(f32(inputs.code, 16));
  const scales = out.subarray(16);
  if (!attrs.doubleQuant) {
    scales.set(f32(inputs.absmax, nblocks));
    return;
  }
  const codes = new Uint8Array(heap, ptrOf(backend, inputs.absmax), nblocks);
  const nestedCode = f32(inputs.nestedCode, 256);
  const nestedAbsmax = f32(inputs.nestedAbsmax, Math.ceil(nblocks / attrs.nestedBlockSize));
  const offset = Math.fround(attrs.offset);
  const nbs = attrs.nestedBlockSize;
  for (let b = 0; b < nblocks; b++) scales[b] = Math.fround(nestedCode[codes[b]!]! * nestedAbsmax[(b / nbs) | 0]!) + offset;
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
  const tables = be.makeOutput([16 + nblocks], 'float32');
  try {
    const pt = ptrOf(be, tables);
    writeTables(g.memory.buffer, pt, be, inputs, attrs, nblocks);
    const bsh = Number.isInteger(Math.log2(bs)) ? Math.log2(bs) : -1;
    const [sk, sn] = transposed ? [I, 1] : [1, I];
    g.fn(ptrOf(be, x), 4 * K, 4, ptrOf(be, inputs.packed), pt + 64, pt, sk, sn, bsh, bs, ptrOf(be, y), 4 * N, M, N, K, g.work);
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
