import v8 from 'node:v8';
import { relaxedSimdSupported, WasmGemm } from './gemm.js';

const FLAG = '--experimental-wasm-relaxed-simd';

export interface RelaxedSimdState {
  /** The engine now compiles the FMA GEMM. */
  enabled: boolean;
  /** For `BackendInfo.reason`. */
  note: string;
}

/**
 * Node only (`node:v8`): turns on relaxed-SIMD (`f32x4.relaxed_madd`) for WebAssembly in this
 * process when the engine has it behind a flag (Node 20, V8 11.3), so the GEMM's FMA variant runs
 * without `node --experimental-wasm-relaxed-simd`. V8 reads its wasm feature flags when a module is
 * validated or compiled, and flags are process-wide, so this works at run time, before the GEMM
 * module is compiled, and in `worker_threads` started before or after. Checked: the FMA product must
 * equal the plain SIMD one within 1e-5 (relative to the terms), else the flag is turned off again.
 * Never called in a browser (Chromium ships relaxed SIMD).
 */
export function enableRelaxedSimd(): RelaxedSimdState {
  if (relaxedSimdSupported()) return { enabled: true, note: 'relaxed-SIMD FMA' };
  try {
    v8.setFlagsFromString(FLAG);
  } catch (e) {
    return { enabled: false, note: `relaxed-SIMD not enabled (${(e as Error).message})` };
  }
  let error: number;
  try {
    error = fmaError();
  } catch (e) {
    v8.setFlagsFromString(`--no-${FLAG.slice(2)}`);
    return { enabled: false, note: `relaxed-SIMD not available in this engine (${(e as Error).message.split('\n')[0]})` };
  }
  if (!(error <= 1e-5)) {
    v8.setFlagsFromString(`--no-${FLAG.slice(2)}`);
    return { enabled: false, note: `relaxed-SIMD FMA off: its product differed from plain SIMD by ${error}` };
  }
  return { enabled: relaxedSimdSupported(), note: `relaxed-SIMD FMA (${FLAG} set at run time)` };
}

/** Largest difference of the FMA GEMM from the plain one on a product off every block edge, relative to |terms|. */
function fmaError(): number {
  const memory = new WebAssembly.Memory({ initial: 32 });
  const fma = new WasmGemm(memory, 0, { fma: true });
  const plain = new WasmGemm(memory, 0, { fma: false });
  const H = new Float32Array(memory.buffer);
  const [M, N, K] = [19, 21, 300];
  const pa = WasmGemm.scratchBytes;
  const pb = pa + 4 * M * K;
  const [pc, pd] = [pb + 4 * K * N, pb + 4 * K * N + 4 * M * N];
  for (let i = 0; i < M * K + K * N; i++) H[pa / 4 + i] = Math.sin(i * 0.37);
  const a = { ptr: pa, rowStride: K, colStride: 1 };
  const b = { ptr: pb, rowStride: 1, colStride: K };
  fma.run(a, b, pc, N, M, N, K);
  plain.run(a, b, pd, N, M, N, K);
  let worst = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let terms = 0; // Σ_k |A(m, k)·B(k, n)|
      for (let k = 0; k < K; k++) terms += Math.abs(H[pa / 4 + m * K + k]! * H[pb / 4 + n * K + k]!);
      worst = Math.max(worst, Math.abs(H[pc / 4 + m * N + n]! - H[pd / 4 + m * N + n]!) / terms);
    }
  }
  return worst;
}
