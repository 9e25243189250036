// Run by gemm.test.ts in `node --experimental-wasm-relaxed-simd`: the FMA GEMM against float64.
import { relaxedSimdSupported, WasmGemm } from '../src/wasm/gemm/gemm.js';

if (!relaxedSimdSupported()) throw new Error('relaxed SIMD does not validate even with the flag');
const memory = new WebAssembly.Memory({ initial: 64 });
const g = new WasmGemm(memory, 0);
if (!g.fma) throw new Error('the FMA variant was not chosen');
const H = new Float32Array(memory.buffer);
const [M, N, K] = [19, 21, 300];
const pa = WasmGemm.scratchBytes;
const pb = pa + 4 * M * K;
const pc = pb + 4 * K * N;
for (let i = 0; i < M * K + K * N; i++) H[pa / 4 + i] = Math.sin(i * 0.37);
// A [M, K], B stored [N, K] (read transposed)
g.run({ ptr: pa, rowStride: K, colStride: 1 }, { ptr: pb, rowStride: 1, colStride: K }, pc, N, M, N, K);
let worst = 0;
for (let m = 0; m < M; m++) {
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += H[pa / 4 + m * K + k]! * H[pb / 4 + n * K + k]!;
    worst = Math.max(worst, Math.abs(H[pc / 4 + m * N + n]! - s) / Math.max(1, Math.abs(s)));
  }
}
if (worst > 1e-5) throw new Error(`fma gemm error ${worst}`);
console.log('fma ok');
