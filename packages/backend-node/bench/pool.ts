/**
 * `npm run bench:pool -w @peftjs/backend-node`: the GEMM pool alone on the products of one
 * reference LoRA step's linear layers (512 tokens, hidden 256, FFN 1024: forward, input gradient,
 * weight gradient), 1 thread against 2 threads with and without the stall back-off, on the machine
 * as it is and with one busy-loop process running; interleaved, BENCH_REPS (default 7) sequences
 * each, medians. Prints the caller's stall share and the back-offs.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { WasmGemm, type MatView } from '../src/wasm/gemm/gemm.js';
import { enableRelaxedSimd } from '../src/wasm/gemm/node-fma.js';
import { nodeHelperFactory } from '../src/wasm/gemm/node-helpers.js';
import { GemmPool } from '../src/wasm/gemm/pool.js';

const REPS = Number(process.env['BENCH_REPS'] ?? 7);
const T = 512; // tokens (8×64)
const D = 256;
const F = 1024;
/** [M, N, K, A transposed, B transposed] of one step's linear products, per layer (×4 layers). */
const LAYER: Array<[number, number, number, boolean, boolean]> = [];
for (const [out, inp] of [
  [D, D], // q, k, v, o
  [D, D],
  [D, D],
  [D, D],
  [F, D], // gate, up
  [F, D],
  [D, F], // down
]) {
  LAYER.push([T, out, inp, false, true]); // y = x·Wᵀ
  LAYER.push([T, inp, out, false, false]); // dx = dy·W
  LAYER.push([out, inp, T, true, false]); // dW = dyᵀ·x (full fine-tuning; LoRA skips most)
}
const STEP = [...LAYER, ...LAYER, ...LAYER, ...LAYER];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  enableRelaxedSimd();
  const memory = new WebAssembly.Memory({ initial: 1024, maximum: 65536, shared: true });
  const S = WasmGemm.scratchBytes;
  const one = new WasmGemm(memory, 0);
  const control = new SharedArrayBuffer(GemmPool.controlBytes);
  nodeHelperFactory({ memory, module: one.module, control, work: S + 64 });
  const pool = new GemmPool(one, 1, control);
  while (pool.ready === 0) await new Promise((r) => setTimeout(r, 10));
  const H = new Float32Array(memory.buffer);
  const pa = 2 * S + 256;
  const pb = pa + 4 * T * F;
  const pc = pb + 4 * T * F;
  for (let i = 0; i < 2 * T * F; i++) H[pa / 4 + i] = Math.sin(i * 0.37);
  const sequence = (g: { run: WasmGemm['run'] }) => {
    for (const [M, N, K, ta, tb] of STEP) {
      const a: MatView = ta ? { ptr: pa, rowStride: 1, colStride: M } : { ptr: pa, rowStride: K, colStride: 1 };
      const b: MatView = tb ? { ptr: pb, rowStride: 1, colStride: K } : { ptr: pb, rowStride: N, colStride: 1 };
      g.run(a, b, pc, N, M, N, K);
    }
  };
  const modes = {
    '1 thread': () => sequence(one),
    '2 threads, plain split': () => {
      pool.adaptive = false;
      sequence(pool);
    },
    '2 threads, back-off': () => {
      pool.adaptive = true;
      sequence(pool);
    },
  };
  const gflop = STEP.reduce((s, [M, N, K]) => s + 2 * M * N * K, 0) / 1e9;
  console.log(
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; ${STEP.length} products (${gflop.toFixed(2)} GFLOP) a sequence`,
  );
  for (const load of ['as is', 'one busy-loop process']) {
    const busy = load === 'as is' ? null : spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const times = new Map<string, number[]>();
    const before = { ...pool.stats };
    for (let r = 0; r <= REPS; r++) {
      for (const [name, f] of Object.entries(modes)) {
        const t0 = performance.now();
        f();
        if (r > 0) times.set(name, [...(times.get(name) ?? []), performance.now() - t0]);
      }
    }
    busy?.kill('SIGKILL');
    const st = pool.stats;
    console.log(
      `${load}: ` +
        [...times].map(([k, v]) => `${k} ${median(v).toFixed(0)} ms (${(gflop / (median(v) / 1000)).toFixed(1)} GFLOP/s)`).join(' | ') +
        ` — caller stalled ${(((st.stallMs - before.stallMs) / (st.parallelMs - before.parallelMs)) * 100).toFixed(0)}% of parallel time, ` +
        `${st.backoffs - before.backoffs} back-offs, ${st.soloCalls - before.soloCalls} products alone`,
    );
  }
  pool.stop();
}

await main();
