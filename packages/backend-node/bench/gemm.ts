/**
 * `npm run bench:gemm -w @peftjs/backend-node`: peftjs' wasm GEMM alone, relaxed-SIMD FMA against
 * plain SIMD, interleaved in one process (so machine load hits both alike), on the products of a
 * LoRA step at the reference and SmolLM-135M shapes. GFLOP/s by wall time and per CPU-second of this
 * process (less sensitive to other jobs on the machine). BENCH_REPS (default 15) per variant and shape.
 */
import os from 'node:os';
import { WasmGemm } from '../src/wasm/gemm/gemm.js';
import { enableRelaxedSimd } from '../src/wasm/gemm/node-fma.js';

const REPS = Number(process.env['BENCH_REPS'] ?? 15);
const SHAPES: Array<[string, number, number, number]> = [
  ['ref  x·W   [512,256]·[256,1024]', 512, 1024, 256],
  ['ref  dW    [256,512]·[512,1024]', 256, 1024, 512],
  ['smol x·W   [128,576]·[576,1536]', 128, 1536, 576],
  ['1024³', 1024, 1024, 1024],
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function main(): void {
  const state = enableRelaxedSimd();
  if (!state.enabled) {
    console.log(`relaxed SIMD unavailable (${state.note}): plain SIMD only`);
  }
  const memory = new WebAssembly.Memory({ initial: 1024 }); // 64 MB
  const variants = [new WasmGemm(memory, 0, { fma: false }), ...(state.enabled ? [new WasmGemm(memory, 0, { fma: true })] : [])];
  const H = new Float32Array(memory.buffer);
  console.log(
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; ${REPS} reps (median), one thread`,
  );
  for (const [name, M, N, K] of SHAPES) {
    const pa = WasmGemm.scratchBytes;
    const pb = pa + 4 * M * K;
    const pc = pb + 4 * K * N;
    for (let i = 0; i < M * K + K * N; i++) H[pa / 4 + i] = Math.sin(i * 0.37);
    const a = { ptr: pa, rowStride: K, colStride: 1 };
    const b = { ptr: pb, rowStride: N, colStride: 1 };
    const wall: number[][] = variants.map(() => []);
    const cpu: number[][] = variants.map(() => []);
    for (let r = 0; r < REPS + 1; r++) {
      variants.forEach((g, v) => {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        g.run(a, b, pc, N, M, N, K);
        const t = performance.now() - t0;
        const c = process.cpuUsage(c0);
        if (r > 0) {
          wall[v]!.push(t);
          cpu[v]!.push((c.user + c.system) / 1000);
        }
      });
    }
    const gflop = (2 * M * N * K) / 1e9;
    const cols = variants.map((g, v) => {
      const w = gflop / (median(wall[v]!) / 1000);
      const c = gflop / (Math.max(median(cpu[v]!), 1e-3) / 1000);
      return `${g.fma ? 'FMA ' : 'SIMD'} ${w.toFixed(1).padStart(5)} GFLOP/s (${c.toFixed(1).padStart(5)} per CPU-s)`;
    });
    console.log(`${name}: ${cols.join(' | ')}`);
  }
}

main();
