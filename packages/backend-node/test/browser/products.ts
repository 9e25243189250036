// Shared by the page and the worker of browser-pool.test.ts: products above the pool's threshold
// (column and row bands, with and without accumulation), pool vs one thread vs float64.
import type { WasmGemm } from '../../src/wasm/gemm/gemm.js';
import type { GemmPool } from '../../src/wasm/gemm/pool.js';

export interface ProductCheck {
  shape: [number, number, number];
  accumulate: boolean;
  /** Largest |pool − one thread| (exact: the same code on the same data). */
  poolVsOne: number;
  /** Largest |pool − float64| / Σ|terms|. */
  poolVsF64: number;
}

export function checkProducts(memory: WebAssembly.Memory, one: WasmGemm, pool: GemmPool, base: number): ProductCheck[] {
  const out: ProductCheck[] = [];
  for (const [M, N, K] of [
    [37, 301, 290],
    [301, 19, 700],
  ] as Array<[number, number, number]>) {
    const H = new Float32Array(memory.buffer);
    const pa = base;
    const pb = pa + 4 * M * K;
    const pc = pb + 4 * N * K;
    const pd = pc + 4 * M * N;
    for (let i = 0; i < M * K + N * K; i++) H[pa / 4 + i] = Math.sin(i * 0.7);
    // A [M, K], B stored [N, K] (read transposed)
    const a = { ptr: pa, rowStride: K, colStride: 1 };
    const b = { ptr: pb, rowStride: 1, colStride: K };
    for (const accumulate of [false, true]) {
      H.fill(0.5, pc / 4, pc / 4 + M * N);
      H.fill(0.5, pd / 4, pd / 4 + M * N);
      pool.run(a, b, pc, N, M, N, K, accumulate);
      one.run(a, b, pd, N, M, N, K, accumulate);
      let poolVsOne = 0;
      let poolVsF64 = 0;
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let s = accumulate ? 0.5 : 0;
          let terms = 0;
          for (let k = 0; k < K; k++) {
            const t = H[pa / 4 + m * K + k]! * H[pb / 4 + n * K + k]!;
            s += t;
            terms += Math.abs(t);
          }
          const got = H[pc / 4 + m * N + n]!;
          poolVsOne = Math.max(poolVsOne, Math.abs(got - H[pd / 4 + m * N + n]!));
          poolVsF64 = Math.max(poolVsF64, Math.abs(got - s) / terms);
        }
      }
      out.push({ shape: [M, N, K], accumulate, poolVsOne, poolVsF64 });
    }
  }
  return out;
}
