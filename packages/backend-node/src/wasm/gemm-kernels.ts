import * as tf from '@tensorflow/tfjs-core';
import { WasmGemm, type MatView } from './gemm/gemm.js';
import { GemmPool, type HelperFactory, type PoolStats } from './gemm/pool.js';

type Info = tf.TensorInfo;

/**
 * The parts of tfjs-backend-wasm 4.22's backend and Emscripten module used to run our GEMM
 * zero-copy on the backend's heap (internals: the package pins tfjs 4.22 exactly and `gemmFor`
 * checks each one, falling back to the stock kernels when one is missing).
 */
export interface WasmHeapBackend {
  wasm: {
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    wasmMemory?: WebAssembly.Memory;
    asm?: { memory?: WebAssembly.Memory };
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** What the kernels call: one thread (`WasmGemm`) or split over helpers (`GemmPool`). */
export type GemmRunner = Pick<WasmGemm, 'run' | 'runBatch' | 'memory' | 'fma'>;

const gemms = new WeakMap<object, GemmRunner | null>();
const threading: { threads: number; factory: HelperFactory | null } = { threads: 1, factory: null };

/**
 * GEMM threads (this one included) for backends bound after this call, and how helpers start
 * (Node: `nodeHelperFactory`). Helpers need a shared heap (tfjs' threaded build); otherwise one thread.
 */
export function configureGemmThreads(threads: number, factory: HelperFactory | null): void {
  threading.threads = Math.max(1, Math.floor(threads));
  threading.factory = factory;
}

/** The GEMM bound to this backend's heap (made once), or null when the internals are not there. */
export function gemmFor(backend: unknown): GemmRunner | null {
  const be = backend as Partial<WasmHeapBackend>;
  if (gemms.has(be)) return gemms.get(be)!;
  let g: GemmRunner | null = null;
  const memory = be.wasm?.wasmMemory ?? be.wasm?.asm?.memory;
  if (
    memory instanceof WebAssembly.Memory &&
    typeof be.wasm?._malloc === 'function' &&
    typeof be.makeOutput === 'function' &&
    be.dataIdMap
  ) {
    const scratch = () => (be.wasm!._malloc(WasmGemm.scratchBytes + 16) + 15) & ~15;
    const main = new WasmGemm(memory, scratch());
    g = main;
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const helpers = threading.threads - 1;
    if (helpers > 0 && shared && threading.factory) {
      const control = new SharedArrayBuffer(GemmPool.controlBytes);
      for (let h = 0; h < helpers; h++) threading.factory({ memory, module: main.module, control, work: scratch() });
      g = new GemmPool(main, helpers, control);
    }
  }
  gemms.set(be, g);
  return g;
}

/** Threads the GEMM of this backend runs on (binding it now if it was not). */
export function gemmThreadsOf(backend: unknown): number {
  const g = gemmFor(backend);
  return g instanceof GemmPool ? g.helpers + 1 : 1;
}

/** What this backend's GEMM pool has done so far (products split, ms waiting on helpers, …), or null without a pool. */
export function gemmPoolStatsOf(backend: unknown): Readonly<PoolStats> | null {
  const g = gemmFor(backend);
  return g instanceof GemmPool ? g.stats : null;
}

/** Whether the GEMM of this backend runs its relaxed-SIMD FMA variant (false without our GEMM). */
export function gemmFmaOf(backend: unknown): boolean {
  return gemmFor(backend)?.fma ?? false;
}

/** Byte address of a tensor's data on the wasm heap. */
export function ptrOf(backend: WasmHeapBackend, t: Info): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d) throw new Error('peftjs wasm GEMM: tensor data is not on the wasm backend');
  return d.memoryOffset;
}

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** Element (m, k) of the last two axes of a [.., R, C] tensor, read as-is or transposed. */
function view(ptr: number, R: number, C: number, transposed: boolean): MatView {
  return transposed ? { ptr, rowStride: 1, colStride: C } : { ptr, rowStride: C, colStride: 1 };
}

/** An operand's batch against the output's: one matrix for all (0), entry by entry (1), or broadcast over some axes (null). */
function batchStep(outer: readonly number[], inner: readonly number[]): 0 | 1 | null {
  if (size(inner) === 1) return 0;
  return tf.util.arraysEqual([...inner], [...outer]) ? 1 : null;
}

/** For each output batch index, the input's batch index under numpy broadcasting. */
function batchIndex(outer: number[], inner: readonly number[]): (i: number) => number {
  const lead = outer.length - inner.length;
  const step = batchStep(outer, inner);
  if (step !== null) return (i) => i * step;
  return (i) => {
    let idx = 0;
    let rem = i;
    let mul = 1;
    for (let ax = outer.length - 1; ax >= 0; ax--) {
      const o = outer[ax]!;
      const coord = rem % o;
      rem = Math.floor(rem / o);
      if (ax >= lead) {
        const d = inner[ax - lead]!;
        idx += (d === 1 ? 0 : coord) * mul;
        mul *= d;
      }
    }
    return idx;
  };
}

/**
 * BatchMatMul on our GEMM: all four transpose forms read the operands in place (no transposed
 * copy, no cached Wᵀ), numpy batch broadcasting, and a batched left operand times a batch-1 right
 * one folded into a single product ([B·M, K]·[K, N]).
 */
export function gemmBatchMatMul(g: GemmRunner, backend: WasmHeapBackend, a: Info, b: Info, transposeA: boolean, transposeB: boolean): Info {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [aR, aC] = [a.shape[ra - 2]!, a.shape[ra - 1]!];
  const [bR, bC] = [b.shape[rb - 2]!, b.shape[rb - 1]!];
  const [M, K] = transposeA ? [aC, aR] : [aR, aC];
  const [K2, N] = transposeB ? [bC, bR] : [bR, bC];
  if (K !== K2) throw new Error(`BatchMatMul: inner dimensions ${K} and ${K2} of [${a.shape}] and [${b.shape}] differ`);
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const out = backend.makeOutput([...outer, M, N], 'float32');
  const batch = size(outer);
  if (batch * M * N === 0) return out;
  const pa = ptrOf(backend, a);
  const pb = ptrOf(backend, b);
  const pc = ptrOf(backend, out);
  if (size(outerB) === 1 && !transposeA && size(outerA) === batch) {
    g.run(view(pa, batch * M, K, false), view(pb, bR, bC, transposeB), pc, N, batch * M, N, K);
    return out;
  }
  // each operand's batch either runs along the output's or is one matrix for all (a stride of 0)
  const [stepA, stepB] = [batchStep(outer, outerA), batchStep(outer, outerB)];
  if (stepA !== null && stepB !== null) {
    const strides = { a: stepA * 4 * aR * aC, b: stepB * 4 * bR * bC, c: 4 * M * N };
    g.runBatch(view(pa, aR, aC, transposeA), view(pb, bR, bC, transposeB), pc, N, M, N, K, batch, strides);
    return out;
  }
  const ia = batchIndex(outer, outerA);
  const ib = batchIndex(outer, outerB);
  for (let i = 0; i < batch; i++) {
    const av = view(pa + 4 * ia(i) * aR * aC, aR, aC, transposeA);
    const bv = view(pb + 4 * ib(i) * bR * bC, bR, bC, transposeB);
    g.run(av, bv, pc + 4 * i * M * N, N, M, N, K);
  }
  return out;
}

/**
 * `PeftLoraMatMul` forward, fused: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with x [N, in], W [out, in], A [r, in],
 * B [out, r]. W, A and B are read in place (transposed views); only x·Aᵀ ([N, r]) is a temporary.
 */
export function gemmLoraMatMul(g: GemmRunner, backend: WasmHeapBackend, x: Info, w: Info, la: Info, lb: Info, scaling: number): Info {
  const [N, inF] = x.shape as [number, number];
  const out = w.shape[0]!;
  const r = la.shape[0]!;
  const y = backend.makeOutput([N, out], 'float32');
  if (N * out === 0) return y;
  const px = ptrOf(backend, x);
  const py = ptrOf(backend, y);
  g.run(view(px, N, inF, false), view(ptrOf(backend, w), out, inF, true), py, out, N, out, inF);
  if (r === 0) return y;
  const t = backend.makeOutput([N, r], 'float32');
  try {
    const pt = ptrOf(backend, t);
    g.run(view(px, N, inF, false), view(ptrOf(backend, la), r, inF, true), pt, r, N, r, inF);
    const heap = new Float32Array(g.memory.buffer, pt, N * r);
    for (let i = 0; i < heap.length; i++) heap[i] = heap[i]! * scaling;
    g.run(view(pt, N, r, false), view(ptrOf(backend, lb), out, r, true), py, out, N, out, r, true);
  } finally {
    backend.disposeData(t.dataId, true);
  }
  return y;
}
