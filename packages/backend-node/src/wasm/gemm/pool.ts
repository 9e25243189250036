import { GEMV_MAX_ROWS, type BatchStrides, type MatView, type WasmGemm } from './gemm.js';
import { MR, NR } from './wat.js';

/**
 * Splits one GEMM over threads that share the wasm memory (a shared `WebAssembly.Memory`, i.e.
 * tfjs' threaded build). The output is cut into chunks of columns (or rows when N is narrow) that
 * the calling thread and the helpers take from a shared counter; the caller waits only for chunks a
 * helper has already started. A helper the OS has not scheduled takes nothing, so a busy machine
 * runs at one thread's speed rather than slower, and helpers sleep in `Atomics.wait` between calls
 * (nothing spins). No Node API here: a `HelperFactory` (Node: worker_threads in node-helpers.ts;
 * a browser: module Web Workers in browser-helpers.ts) starts the helpers, each running `HELPER_SOURCE`.
 *
 * The caller must be allowed to block (`Atomics.wait`): Node's main thread, a worker_thread, a
 * Web Worker. A browser page's main thread may not block, and spinning there would freeze the page,
 * so there the pool runs every product on the calling thread (`parallel` is false): train in a
 * Web Worker.
 *
 * Control block (Int32Array on a SharedArrayBuffer): the job's sequence number, next chunk,
 * chunks completed, stop flag, helpers started, chunks and columns/rows the helpers took
 * (statistics; the columns/rows also drive the back-off), a helper's failure flag, then the job's
 * arguments. A helper whose chunk throws sets the flag, counts the chunk as done (so nothing waits
 * forever) and leaves the pool; the caller then throws rather than return a partial product.
 */
const SEQ = 0;
const NEXT = 1;
const COMPLETED = 2;
const STOP = 3;
const READY = 4;
const HELPED = 5;
const HELPED_WORK = 6;
const FAILED = 7;
const ARGS = 8;
const CONTROL_INTS = ARGS + 20;
/** Job kinds (argument 12): row bands, column bands, whole batch entries. */
const MODE_ROWS = 0;
const MODE_COLS = 1;
const MODE_BATCH = 2;
/** `NEXT` between jobs: a late helper's grab is past every chunk. */
const CLOSED = 1 << 30;

/** Below this many multiply-adds a product runs on the calling thread alone (waking a helper costs tens of µs). */
export const PARALLEL_MIN_MACS = 1 << 21;
/** Chunks per thread (more: better balance under load; fewer: less A re-packing). */
const CHUNKS_PER_THREAD = 4;

/**
 * Back-off while helpers cost more than they give. Over a window of `STALL_WINDOW` parallel
 * products the caller computed for `t_c` and waited for `s` on chunks a helper had started (a helper
 * the OS descheduled mid-chunk, e.g. next to another CPU-bound process); the helpers computed a
 * share `h` of the columns/rows. Alone the caller would have taken about `t_c / (1 − h)`, so the
 * split lost time iff `s / (t_c + s) > h`. Then the next `backoff` products run on the calling
 * thread alone, and the helpers are tried again; `backoff` doubles (up to `MAX_BACKOFF`) while
 * windows keep losing and resets when one gains. (A fixed stall limit — 25% — measured slower than
 * no back-off at load 10: the helpers still did ~40% of the work.)
 */
export const STALL_WINDOW = 16;
const MIN_BACKOFF = 32;
const MAX_BACKOFF = 2048;

/** What the pool did so far (for benchmarks and tests). */
export interface PoolStats {
  /** Products split over the helpers. */
  parallelCalls: number;
  /** Products above the threshold run alone while backing off. */
  soloCalls: number;
  /** ms the caller waited for helpers' chunks, and ms the parallel products took. */
  stallMs: number;
  parallelMs: number;
  /** Windows that failed (each starts a back-off). */
  backoffs: number;
  /** Columns/rows of parallel products, and those the helpers computed. */
  work: number;
  helperWork: number;
}

export interface HelperInit {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  control: SharedArrayBuffer;
  work: number;
}

/** Starts one helper running `HELPER_SOURCE`'s `helperMain(init, instantiate)`. */
export type HelperFactory = (init: HelperInit) => void;

/**
 * Chunk `i` of `n` over `total` columns/rows in multiples of `step`: [lo, hi). Guided: sizes fall
 * geometrically (each 0.8 of the one before), so the chunks taken last — the ones a thread that ran
 * out of work waits on — are small (measured on a reference LoRA step, 2 threads: equal chunks left
 * the caller waiting 12% of the parallel time). The same formula runs in the helpers
 * (HELPER_SOURCE), so both sides cut identical chunks.
 */
function chunk(i: number, n: number, total: number, step: number): [number, number] {
  // no inner functions: this text runs in the helpers, where a bundler's helpers (e.g. esbuild's
  // __name) do not exist
  const whole = 1 - Math.pow(0.8, n);
  const lo = Math.min(total, Math.ceil(Math.floor((total * (1 - Math.pow(0.8, i))) / whole) / step) * step);
  const hi = i >= n - 1 ? total : Math.min(total, Math.ceil(Math.floor((total * (1 - Math.pow(0.8, i + 1))) / whole) / step) * step);
  return [lo, hi];
}

export class GemmPool {
  private readonly ctrl: Int32Array;
  /** This thread may block in `Atomics.wait` (false on a browser page's main thread: no helpers used). */
  readonly parallel: boolean;
  readonly stats: PoolStats = { parallelCalls: 0, soloCalls: 0, stallMs: 0, parallelMs: 0, backoffs: 0, work: 0, helperWork: 0 };
  /** Products left to run alone, the next back-off's length, and the current window. */
  private solo = 0;
  private backoff = MIN_BACKOFF;
  private readonly window = { calls: 0, stallMs: 0, ms: 0, work: 0, helped: 0 };
  /** Back-off on (default) or off (benchmarks: the plain split). */
  adaptive = true;

  constructor(
    private readonly main: WasmGemm,
    readonly helpers: number,
    readonly control: SharedArrayBuffer,
  ) {
    this.ctrl = new Int32Array(control);
    Atomics.store(this.ctrl, NEXT, CLOSED);
    this.parallel = mayBlock(this.ctrl);
  }

  static readonly controlBytes = 4 * CONTROL_INTS;

  get memory(): WebAssembly.Memory {
    return this.main.memory;
  }

  get fma(): boolean {
    return this.main.fma;
  }

  /** Helpers that have started and wait for work. */
  get ready(): number {
    return Atomics.load(this.ctrl, READY);
  }

  /** Chunks the helpers have computed so far (the rest ran on the calling thread). */
  get helperChunks(): number {
    return Atomics.load(this.ctrl, HELPED);
  }

  /** Same contract as `WasmGemm.run`. */
  run(a: MatView, b: MatView, c: number, ldc: number, M: number, N: number, K: number, accumulate = false): void {
    const threads = this.helpers + 1;
    // each column band re-packs all of A (M×K), each row band all of B (K×N): cut the wider side
    const colsOk = N >= 2 * NR * threads;
    const byCols = colsOk && (M < 2 * MR * threads || N >= M);
    // a product of ≤ GEMV_MAX_ROWS rows is not split: the caller would take `gemvT` for its bands and
    // a helper the packed GEMM, whose sums differ in the last bit — results must not depend on who ran what
    const split = K > 0 && M > GEMV_MAX_ROWS && M * N * K >= PARALLEL_MIN_MACS && (byCols || M >= 2 * MR * threads);
    if (!split || !this.mayRun()) {
      this.main.run(a, b, c, ldc, M, N, K, accumulate);
      return;
    }
    const args = [
      a.ptr,
      a.rowStride,
      a.colStride,
      b.ptr,
      b.rowStride,
      b.colStride,
      c,
      ldc,
      M,
      N,
      K,
      accumulate ? 1 : 0,
      byCols ? MODE_COLS : MODE_ROWS,
    ];
    this.split(args, byCols ? N : M, byCols ? NR : MR, (lo, hi) => {
      if (byCols) this.main.run(a, { ...b, ptr: b.ptr + 4 * lo * b.colStride }, c + 4 * lo, ldc, M, hi - lo, K, accumulate);
      else this.main.run({ ...a, ptr: a.ptr + 4 * lo * a.rowStride }, b, c + 4 * lo * ldc, ldc, hi - lo, N, K, accumulate);
    });
  }

  /**
   * Same contract as `WasmGemm.runBatch`. Products too small to split (attention's per-head
   * products) are dealt out whole, a batch entry at a time; larger ones are each split as `run`.
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
    const whole = M * N * K < PARALLEL_MIN_MACS && batch * M * N * K >= PARALLEL_MIN_MACS && batch >= 2 && M > GEMV_MAX_ROWS && K > 0;
    if (!whole || !this.mayRun()) {
      for (let e = 0; e < batch; e++) {
        this.run({ ...a, ptr: a.ptr + e * strides.a }, { ...b, ptr: b.ptr + e * strides.b }, c + e * strides.c, ldc, M, N, K, accumulate);
      }
      return;
    }
    const args = [a.ptr, a.rowStride, a.colStride, b.ptr, b.rowStride, b.colStride, c, ldc, M, N, K, accumulate ? 1 : 0, MODE_BATCH];
    const mine = (lo: number, hi: number) =>
      this.main.runBatch(
        { ...a, ptr: a.ptr + lo * strides.a },
        { ...b, ptr: b.ptr + lo * strides.b },
        c + lo * strides.c,
        ldc,
        M,
        N,
        K,
        hi - lo,
        strides,
        accumulate,
      );
    this.split(args, batch, 1, mine, [batch, strides.a, strides.b, strides.c]);
  }

  /** Whether helpers are there to take chunks now (counts a product run alone while backing off). */
  private mayRun(): boolean {
    if (!this.parallel || Atomics.load(this.ctrl, READY) === 0) return false;
    if (this.solo > 0) {
      this.solo--;
      this.stats.soloCalls++;
      return false;
    }
    return true;
  }

  /**
   * Runs one job over `total` units (columns, rows or batch entries) cut in guided chunks of
   * multiples of `step`: publishes `args` (+ `batchArgs`), wakes the helpers, takes chunks itself
   * (`mine`), then waits for the chunks helpers started.
   */
  private split(args: number[], total: number, step: number, mine: (lo: number, hi: number) => void, batchArgs: number[] = []): void {
    const t0 = performance.now();
    const helpedBefore = Atomics.load(this.ctrl, HELPED_WORK);
    const n = Math.min((this.helpers + 1) * CHUNKS_PER_THREAD, Math.ceil(total / step));
    [...args, n, ...batchArgs].forEach((v, i) => (this.ctrl[ARGS + i] = v));
    Atomics.store(this.ctrl, COMPLETED, 0);
    Atomics.store(this.ctrl, NEXT, 0);
    Atomics.add(this.ctrl, SEQ, 1);
    Atomics.notify(this.ctrl, SEQ);
    for (;;) {
      const i = Atomics.add(this.ctrl, NEXT, 1);
      if (i >= n) break;
      const [lo, hi] = chunk(i, n, total, step);
      if (hi > lo) mine(lo, hi);
      Atomics.add(this.ctrl, COMPLETED, 1);
    }
    const t1 = performance.now();
    for (;;) {
      const done = Atomics.load(this.ctrl, COMPLETED);
      if (done >= n) break;
      Atomics.wait(this.ctrl, COMPLETED, done, 20);
    }
    Atomics.store(this.ctrl, NEXT, CLOSED);
    if (Atomics.exchange(this.ctrl, FAILED, 0)) {
      throw new Error(
        'peftjs wasm GEMM: a helper thread failed during a product (its error is in the helper; later products run without it)',
      );
    }
    const t2 = performance.now();
    this.observe(t2 - t1, t2 - t0, total, Atomics.load(this.ctrl, HELPED_WORK) - helpedBefore);
  }

  /** Counts one parallel product; backs off when a window's stall share exceeded the helpers' share of the work. */
  private observe(stallMs: number, ms: number, work: number, helped: number): void {
    this.stats.parallelCalls++;
    this.stats.stallMs += stallMs;
    this.stats.parallelMs += ms;
    const w = this.window;
    w.calls++;
    w.stallMs += stallMs;
    w.ms += ms;
    w.work += work;
    this.stats.work += work;
    this.stats.helperWork += helped;
    w.helped += helped;
    if (w.calls < STALL_WINDOW) return;
    if (this.adaptive && w.stallMs / w.ms > w.helped / w.work) {
      this.solo = this.backoff;
      this.backoff = Math.min(MAX_BACKOFF, 2 * this.backoff);
      this.stats.backoffs++;
    } else {
      this.backoff = MIN_BACKOFF;
    }
    w.calls = w.stallMs = w.ms = w.work = w.helped = 0;
  }

  /** Ends the helpers' loops. */
  stop(): void {
    Atomics.store(this.ctrl, STOP, 1);
    Atomics.add(this.ctrl, SEQ, 1);
    Atomics.notify(this.ctrl, SEQ);
  }
}

/** Whether `Atomics.wait` is allowed here (it throws on a browser page's main thread). */
function mayBlock(ctrl: Int32Array): boolean {
  try {
    Atomics.wait(ctrl, STOP, 1, 0); // STOP is 0: returns "not-equal" at once where waiting is allowed
    return true;
  } catch {
    return false;
  }
}

/**
 * A helper's loop as source text — `helperMain(init, instantiate)`, where `instantiate(module,
 * memory)` returns the module's `gemm` export — so Node's worker_threads and a browser's Web
 * Worker run the same code without a bundler.
 */
export const HELPER_SOURCE = `
${chunk.toString()}
function helperMain(init, instantiate) {
  const ctrl = new Int32Array(init.control);
  const gemm = instantiate(init.module, init.memory);
  let seen = Atomics.load(ctrl, ${SEQ});
  Atomics.add(ctrl, ${READY}, 1);
  for (;;) {
    Atomics.wait(ctrl, ${SEQ}, seen);
    const seq = Atomics.load(ctrl, ${SEQ});
    if (seq === seen) continue;
    seen = seq;
    if (Atomics.load(ctrl, ${STOP})) return;
    for (;;) {
      const i = Atomics.add(ctrl, ${NEXT}, 1);
      const o = ${ARGS};
      const n = ctrl[o + 13];
      if (i >= n) break;
      const mode = ctrl[o + 12];
      const M = ctrl[o + 8], N = ctrl[o + 9], K = ctrl[o + 10];
      const total = mode === ${MODE_BATCH} ? ctrl[o + 14] : mode === ${MODE_COLS} ? N : M;
      const [lo, hi] = chunk(i, n, total, mode === ${MODE_BATCH} ? 1 : mode === ${MODE_COLS} ? ${NR} : ${MR});
      try {
        if (mode === ${MODE_BATCH}) {
          for (let e = lo; e < hi; e++) {
            gemm(ctrl[o] + e * ctrl[o + 15], 4 * ctrl[o + 1], 4 * ctrl[o + 2], ctrl[o + 3] + e * ctrl[o + 16], 4 * ctrl[o + 4],
                 4 * ctrl[o + 5], ctrl[o + 6] + e * ctrl[o + 17], 4 * ctrl[o + 7], M, N, K, ctrl[o + 11], init.work);
          }
        } else if (hi > lo) {
          const byCols = mode === ${MODE_COLS};
          const a = ctrl[o] + (byCols ? 0 : 4 * lo * ctrl[o + 1]);
          const b = ctrl[o + 3] + (byCols ? 4 * lo * ctrl[o + 5] : 0);
          const c = ctrl[o + 6] + (byCols ? 4 * lo : 4 * lo * ctrl[o + 7]);
          gemm(a, 4 * ctrl[o + 1], 4 * ctrl[o + 2], b, 4 * ctrl[o + 4], 4 * ctrl[o + 5], c, 4 * ctrl[o + 7],
               byCols ? M : hi - lo, byCols ? hi - lo : N, K, ctrl[o + 11], init.work);
        }
      } catch (e) {
        Atomics.sub(ctrl, ${READY}, 1);
        Atomics.store(ctrl, ${FAILED}, 1);
        Atomics.add(ctrl, ${COMPLETED}, 1);
        Atomics.notify(ctrl, ${COMPLETED});
        console.error('peftjs wasm GEMM helper:', e);
        return;
      }
      Atomics.add(ctrl, ${HELPED}, 1);
      Atomics.add(ctrl, ${HELPED_WORK}, hi - lo);
      Atomics.add(ctrl, ${COMPLETED}, 1);
      Atomics.notify(ctrl, ${COMPLETED});
    }
  }
}`;
