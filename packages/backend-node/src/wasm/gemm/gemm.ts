import { GEMM_WASM } from './binary.js';
import { SCRATCH_BYTES } from './wat.js';

/** gemm's signature in the module (all byte addresses / byte strides, see wat.ts). */
type GemmFn = (
  a: number,
  sam: number,
  sak: number,
  b: number,
  sbk: number,
  sbn: number,
  c: number,
  ldc: number,
  M: number,
  N: number,
  K: number,
  beta: number,
  work: number,
) => void;

type GemvFn = (
  a: number,
  sam: number,
  b: number,
  sbn: number,
  c: number,
  ldc: number,
  M: number,
  N: number,
  K: number,
  beta: number,
) => void;

/** Rows of A up to which a product with k-contiguous operands skips packing (`gemvT`). */
export const GEMV_MAX_ROWS = 2;

/** An f32 matrix view on a wasm memory: element (i, j) at ptr + 4·(i·rowStride + j·colStride). */
export interface MatView {
  ptr: number;
  rowStride: number;
  colStride: number;
}

function decode(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(s.length));
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

let fmaOk = false;
/**
 * Whether this engine validates relaxed-SIMD FMA (Chromium: yes; Node 20: with
 * `--experimental-wasm-relaxed-simd`, which `enableRelaxedSimd` in node-fma.ts sets at run time).
 * Only a `true` answer is cached: the flag can be set after a first `false`.
 */
export function relaxedSimdSupported(): boolean {
  fmaOk ||= WebAssembly.validate(decode(GEMM_WASM.fma));
  return fmaOk;
}

/**
 * peftjs' wasm f32 GEMM bound to one memory (zero-copy on whatever lives there, e.g. the
 * tfjs-wasm heap). `work` is SCRATCH_BYTES of scratch the caller allocates in that memory.
 * No Node API: the browser's wasm fallback runs the same code.
 */
/** Byte distances between consecutive entries of a batched product's operands and output. */
export interface BatchStrides {
  a: number;
  b: number;
  c: number;
}

export class WasmGemm {
  readonly fma: boolean;
  /** The compiled module (helper threads instantiate it on the same memory). */
  readonly module: WebAssembly.Module;
  private readonly fn: GemmFn;
  private readonly gemv: GemvFn;

  constructor(
    readonly memory: WebAssembly.Memory,
    private readonly work: number,
    opts: { fma?: boolean } = {},
  ) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    this.fma = opts.fma ?? relaxedSimdSupported();
    const name = this.fma ? (shared ? 'fmaShared' : 'fma') : shared ? 'simdShared' : 'simd';
    this.module = new WebAssembly.Module(decode(GEMM_WASM[name]));
    const instance = new WebAssembly.Instance(this.module, { env: { memory } });
    this.fn = instance.exports['gemm'] as GemmFn;
    this.gemv = instance.exports['gemvT'] as GemvFn;
    if (work % 16 !== 0) throw new Error(`WasmGemm: scratch at ${work} is not 16-byte aligned`);
  }

  static readonly scratchBytes = SCRATCH_BYTES;

  /**
   * `batch` products of the same shape, entry e at a + e·strides.a, b + e·strides.b and
   * c + e·strides.c (byte strides; 0 repeats an operand, as a broadcast batch).
   */
  runBatch(
    a: MatView,
    b: MatView,
    c: number,
    ldc: number,
    M: number,
    N: number,
    K: number,
    batch: number,
    strides: BatchStrides,
    accumulate = false,
  ): void {
    for (let e = 0; e < batch; e++) {
      this.run({ ...a, ptr: a.ptr + e * strides.a }, { ...b, ptr: b.ptr + e * strides.b }, c + e * strides.c, ldc, M, N, K, accumulate);
    }
  }

  /**
   * C[M, N] = A·B, or C += A·B when `accumulate`. A(m, k), B(k, n) as views (any strides, so
   * transposed operands need no copy); C row-major at `c` with row stride `ldc` elements.
   */
  run(a: MatView, b: MatView, c: number, ldc: number, M: number, N: number, K: number, accumulate = false): void {
    if (M === 0 || N === 0) return;
    if (K === 0) {
      if (!accumulate) {
        const heap = new Float32Array(this.memory.buffer);
        for (let m = 0; m < M; m++) heap.fill(0, c / 4 + m * ldc, c / 4 + m * ldc + N);
      }
      return;
    }
    if (M <= GEMV_MAX_ROWS && a.colStride === 1 && b.rowStride === 1) {
      this.gemv(a.ptr, 4 * a.rowStride, b.ptr, 4 * b.colStride, c, 4 * ldc, M, N, K, accumulate ? 1 : 0);
      return;
    }
    this.fn(
      a.ptr,
      4 * a.rowStride,
      4 * a.colStride,
      b.ptr,
      4 * b.rowStride,
      4 * b.colStride,
      c,
      4 * ldc,
      M,
      N,
      K,
      accumulate ? 1 : 0,
      this.work,
    );
  }
}
