import * as tf from '@tensorflow/tfjs-core';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The parts of the Emscripten module behind tfjs-backend-wasm 4.22 used here (internals: the
 * package pins tfjs ^4.22 and every use is guarded).
 */
export interface EmscriptenWasmModule {
  locateFile?: (file: string, prefix: string) => string;
  PThread?: { runningWorkers: Array<{ unref(): void }>; unusedWorkers: Array<{ unref(): void }> };
  tfjs: { getThreadsCount(): number; initWithThreadsCount(n: number): void };
}

export type WasmBackendInternals = tfwasm.BackendWasm & { wasm: EmscriptenWasmModule };

export interface WasmInit {
  ok: boolean;
  threads: number;
  simd: boolean;
  /** The heap is a shared memory (the threaded build): peftjs' GEMM helpers can work on it. */
  sharedHeap: boolean;
  /** What happened, for `BackendInfo.reason`. */
  notes: string[];
}

const WORKER_MARK = '"use strict";var Module={};var ENVIRONMENT_IS_NODE';
const MAIN_MARK = 'var WasmBackendModuleThreadedSimd';

/**
 * What the rollup bundle's factory refers to outside itself, for the copy evaluated in a worker:
 * node modules the bundle hoisted as `require$$N`, its `commonjsGlobal`, and TypeScript's helpers.
 */
const MAIN_PRELUDE =
  "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks'),require$$4=require('os');" +
  'var commonjsGlobal=globalThis;' +
  'var __values=function(o){return o[Symbol.iterator]()};' +
  'var __read=function(o,n){var a=Array.from(o);return n===undefined?a:a.slice(0,n)};' +
  'var __spreadArray=function(to,from){return to.concat(Array.from(from))};\n';

let workerFile: string | null = null;

function scratchDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-wasm-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Initializes tfjs-backend-wasm with `threads` XNNPACK threads in Node, where tfjs turns threads off
 * (tfjs issue #3830). Three workarounds, all undone when initialization ends:
 *
 * 1. `WASM_HAS_MULTITHREAD_SUPPORT` is forced on and `setThreadsCount` is called before
 *    `setBackend('wasm')`, so the threaded SIMD binary loads.
 * 2. Emscripten hands each pthread worker a `blob:` URL for its script and posts the main script as a
 *    Blob; `worker_threads` can load neither. `Blob` is wrapped to record the two scripts' text and
 *    `URL.createObjectURL` returns a real file instead: the worker script, prefixed so it loads the
 *    main script from a file too. The module's `locateFile` keeps pointing at that file afterwards,
 *    for workers Emscripten creates later.
 * 3. The C++ side caps the pool at `emscripten_num_logical_cores() / 2` (`backend.cc`, computed once
 *    when the module starts), which in Node is `os.cpus().length / 2`: one thread on a 2-core machine.
 *    `os.cpus()` reports at least `2 × threads` entries while the module starts. The pool is also
 *    capped at 8 (Emscripten pre-creates 8 workers).
 *
 * Running pthreads are `unref`'d so they do not keep the process alive.
 */
export async function initWasmWithThreads(threads: number, opts: { sharedHeap?: boolean } = {}): Promise<WasmInit> {
  const notes: string[] = [];
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  if (wasmInitialized()) {
    const n = safeThreads();
    notes.push(`wasm was already initialized with ${n} thread(s); threads are set only at its first initialization`);
    const ok = await tf.setBackend('wasm');
    return { ok, threads: n, simd, sharedHeap: sharedHeap(), notes };
  }
  const wanted = Math.max(1, Math.min(8, Math.floor(threads)));
  if (wanted > 1 && !simd) notes.push('no wasm SIMD support: tfjs has no threaded binary without SIMD');
  // the threaded build also when only a shared heap is wanted (peftjs' GEMM helpers), with 1 XNNPACK thread
  const useThreads = (wanted > 1 || opts.sharedHeap === true) && simd && typeof SharedArrayBuffer !== 'undefined';
  const restore: Array<() => void> = [];
  if (useThreads) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    tfwasm.setThreadsCount(wanted);
    restore.push(patchScripts(), patchCpus(wanted));
  } else {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    tfwasm.setThreadsCount(1);
  }
  let ok = false;
  try {
    ok = await tf.setBackend('wasm');
  } catch (e) {
    notes.push(`wasm failed to initialize (${(e as Error).message})`);
  } finally {
    for (const undo of restore.reverse()) undo();
  }
  if (!ok) return { ok: false, threads: 0, simd, sharedHeap: false, notes };
  const module = (tf.backend() as WasmBackendInternals).wasm;
  if (useThreads && module.PThread) {
    if (workerFile) {
      const file = workerFile;
      const locate = module.locateFile;
      module.locateFile = (f, prefix) => (f.endsWith('.worker.js') ? file : locate ? locate(f, prefix) : prefix + f);
    }
    for (const w of [...module.PThread.runningWorkers, ...module.PThread.unusedWorkers]) w.unref();
  }
  const n = safeThreads();
  if (wanted > 1 && n < wanted) notes.push(`asked for ${wanted} wasm threads, got ${n}`);
  return { ok, threads: n, simd, sharedHeap: sharedHeap(), notes };
}

function sharedHeap(): boolean {
  const m = (tf.backend() as unknown as { wasm?: { wasmMemory?: WebAssembly.Memory } }).wasm?.wasmMemory;
  return typeof SharedArrayBuffer !== 'undefined' && m?.buffer instanceof SharedArrayBuffer;
}

/** Whether the wasm backend already exists (`tf.findBackend` would start initializing it). */
export function wasmInitialized(): boolean {
  // `registry` is a private member of tfjs's Engine (no public way to ask without initializing).
  const engine = tf.engine() as unknown as { registry: Record<string, unknown> };
  return engine.registry['wasm'] != null;
}

function safeThreads(): number {
  try {
    return tfwasm.getThreadsCount();
  } catch {
    return 1;
  }
}

/** Workaround 2: the pthread scripts become real files. Returns the undo. */
function patchScripts(): () => void {
  const RealBlob = globalThis.Blob;
  const realCreate = URL.createObjectURL;
  const texts = new WeakMap<Blob, string>();
  let dir: string | null = null;
  let mainFile: string | null = null;
  const ensureDir = () => (dir ??= scratchDir());

  class RecordingBlob extends RealBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts && parts.every((p) => typeof p === 'string')) {
        const text = (parts as string[]).join('');
        if (text.startsWith(MAIN_MARK)) {
          mainFile = path.join(ensureDir(), 'tfjs-backend-wasm-threaded-simd.main.cjs');
          fs.writeFileSync(mainFile, MAIN_PRELUDE + text);
        } else if (text.startsWith(WORKER_MARK)) {
          texts.set(this, text);
        }
      }
    }
  }
  globalThis.Blob = RecordingBlob as typeof Blob;
  URL.createObjectURL = (obj: Blob | MediaSource) => {
    const text = texts.get(obj as Blob);
    if (text === undefined || mainFile === null) return realCreate.call(URL, obj as Blob);
    if (workerFile === null || !fs.existsSync(workerFile)) {
      const file = path.join(ensureDir(), 'tfjs-backend-wasm-threaded-simd.worker.cjs');
      // In the worker, the main script Blob it is posted "becomes" the file written above.
      const prelude =
        `var __peftjsMain=${JSON.stringify(mainFile)};` +
        'URL.createObjectURL=function(){return __peftjsMain};URL.revokeObjectURL=function(){};\n';
      fs.writeFileSync(file, prelude + text);
      workerFile = file;
    }
    return workerFile;
  };
  return () => {
    globalThis.Blob = RealBlob;
    URL.createObjectURL = realCreate;
  };
}

/** Workaround 3: `os.cpus()` reports at least `2 × threads` cores while the module starts. */
function patchCpus(threads: number): () => void {
  const realCpus = os.cpus;
  os.cpus = () => {
    const cpus = realCpus();
    const first = cpus[0];
    while (first && cpus.length < 2 * threads) cpus.push(first);
    return cpus;
  };
  return () => {
    os.cpus = realCpus;
  };
}
