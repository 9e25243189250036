import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import os from 'node:os';
import { ensureGradients } from './gradients.js';
import { loadTensorflow } from './tensorflow.js';
import { registerWasmGradients } from './wasm/grads.js';
import { registerWasmKernels } from './wasm/register.js';
import { configureGemmThreads, gemmFmaOf, gemmThreadsOf } from './wasm/gemm-kernels.js';
import { nodeHelperFactory } from './wasm/gemm/node-helpers.js';
import { enableRelaxedSimd } from './wasm/gemm/node-fma.js';
import { guardWasmHeap } from './wasm/heap.js';
import { initWasmWithThreads } from './wasm/threads.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The tfjs backend now active. */
  name: BackendName;
  /** True only when tfjs-node-gpu reports a CUDA device in use. */
  gpu: boolean;
  /** Compute threads: peftjs' GEMM threads on wasm (XNNPACK keeps 1), 1 on cpu, the cores libtensorflow may use on tensorflow. */
  threads: number;
  /** wasm SIMD in use. */
  simd: boolean;
  /** peftjs' wasm GEMM runs its relaxed-SIMD FMA variant (`f32x4.relaxed_madd`). */
  fma: boolean;
  /** What was chosen and why, e.g. "wasm (2 threads, SIMD): tfjs-node-gpu not installed; ...". */
  reason: string;
}

export interface SetupOptions {
  /** 'auto' (default): tfjs-node-gpu, tfjs-node, wasm, cpu — the first that works. */
  prefer?: 'auto' | BackendName;
  /**
   * wasm threads (1–8). Default: `PEFTJS_WASM_THREADS`, else 2 on 2+ cores (see `defaultThreads`). Applies only
   * to the first wasm initialization in a process.
   */
  threads?: number;
  /**
   * Node 20 validates relaxed-SIMD wasm only behind `--experimental-wasm-relaxed-simd`; by default
   * (true) that V8 flag is set at run time (`v8.setFlagsFromString`, process-wide) so the GEMM runs
   * its FMA variant (~15–20% faster). `false`, or `PEFTJS_WASM_RELAXED_SIMD=0`, leaves V8's flags
   * alone (plain SIMD unless node was started with the flag). Engines that ship relaxed SIMD (Node
   * 22+) use FMA either way.
   */
  relaxedSimd?: boolean;
  /** Receives the reason line (default: nothing is printed). */
  log?: (msg: string) => void;
  /** Loads an optional package; for tests. Default: dynamic `import()`. */
  importer?: (name: string) => Promise<unknown>;
}

const defaultImporter = (name: string): Promise<unknown> => import(name);

/**
 * `PEFTJS_WASM_THREADS`, else 2 GEMM threads where there are 2 cores or more. Measured
 * (`npm run bench:threads`, idle 2-core machine, two runs of 3 interleaved rounds, reference LoRA
 * step): 2 threads take 67% / 85% of 1 thread's time as is and 82% / 96% beside one busy-loop
 * process, winning every round — so the default is not slower than 1 thread next to another
 * CPU-bound process (README "Threads: the default, by measurement"). More than 2 is unmeasured:
 * ask with `threads` or the variable.
 */
function defaultThreads(): number {
  const env = Number(process.env['PEFTJS_WASM_THREADS']);
  if (Number.isInteger(env) && env > 0) return env;
  return Math.min(2, os.cpus().length);
}

/**
 * Activates the fastest tfjs backend present in this Node process and makes training work on it:
 * stock gradients registered (tfjs-core alone has none), and on wasm the fast BatchMatMul kernel and
 * the BatchMatMul/GatherV2 gradients of this package.
 *
 * Order for 'auto': `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node` (optional peers, loaded
 * when installed), wasm with SIMD and threads, cpu. Naming a backend tries only that one and throws
 * when it cannot start.
 */
export async function setupBackend(opts: SetupOptions = {}): Promise<BackendInfo> {
  const prefer = opts.prefer ?? 'auto';
  const log = opts.log ?? (() => {});
  await ensureGradients();
  registerWasmGradients();
  const why: string[] = [];

  if (prefer === 'auto' || prefer === 'tensorflow') {
    const tfn = await loadTensorflow(opts.importer ?? defaultImporter);
    why.push(...tfn.notes);
    if (tfn.ok) {
      return done({ name: 'tensorflow', gpu: tfn.gpu, threads: os.cpus().length, simd: false, fma: false }, why, log);
    }
    if (prefer === 'tensorflow') throw new Error(`setupBackend: no 'tensorflow' backend: ${why.join('; ')}`);
  }

  if (prefer === 'auto' || prefer === 'wasm') {
    registerWasmKernels();
    // before the GEMM module is first compiled (gemmThreadsOf below); helpers share the flag
    if (opts.relaxedSimd ?? process.env['PEFTJS_WASM_RELAXED_SIMD'] !== '0') why.push(enableRelaxedSimd().note);
    // threads go to peftjs' GEMM (helpers sleep between calls); XNNPACK keeps 1 (its pool spins)
    const gemmThreads = Math.max(1, Math.min(8, Math.floor(opts.threads ?? defaultThreads())));
    configureGemmThreads(gemmThreads, nodeHelperFactory);
    const w = await initWasmWithThreads(1, { sharedHeap: gemmThreads > 1 });
    why.push(...w.notes);
    if (w.ok) {
      // GEMM threads are fixed when the backend is first bound (the first wasm start of the process)
      w.threads = gemmThreadsOf(tf.backend());
      if (w.threads !== gemmThreads)
        why.push(
          `${gemmThreads} GEMM thread(s) asked, ${w.threads} in use (fixed at the first wasm start${w.sharedHeap ? '' : '; needs the threaded tfjs build'})`,
        );
    }
    const cores = os.cpus().length;
    const load = os.loadavg()[0] ?? 0;
    if (w.ok && w.threads > 1 && load > cores) {
      why.push(
        `system load ${load.toFixed(1)} on ${cores} cores: wasm threads may be slower than 1 here (threads: 1 or PEFTJS_WASM_THREADS=1)`,
      );
    }
    if (w.ok) {
      guardWasmHeap((tf.backend() as unknown as { wasm: Parameters<typeof guardWasmHeap>[0] }).wasm);
      const fma = gemmFmaOf(tf.backend());
      return done({ name: 'wasm', gpu: false, threads: w.threads, simd: w.simd, fma }, why, log);
    }
    if (prefer === 'wasm') throw new Error(`setupBackend: wasm backend failed: ${why.join('; ')}`);
  }

  if (!(await tf.setBackend('cpu'))) throw new Error(`setupBackend: even the cpu backend failed: ${why.join('; ')}`);
  if (prefer === 'cpu') why.push('cpu asked for');
  return done({ name: 'cpu', gpu: false, threads: 1, simd: false, fma: false }, why, log);
}

function done(info: Omit<BackendInfo, 'reason'>, why: string[], log: (msg: string) => void): BackendInfo {
  const detail =
    info.name === 'wasm'
      ? ` (${info.threads} thread${info.threads === 1 ? '' : 's'}${info.simd ? ', SIMD' : ''}${info.fma ? ', FMA' : ''})`
      : info.name === 'tensorflow'
        ? info.gpu
          ? ' (CUDA GPU)'
          : ' (CPU)'
        : '';
  const reason = `${info.name}${detail}: ${why.join('; ') || 'requested'}`;
  log(`@peftjs/backend-node: ${reason}`);
  return { ...info, reason };
}
