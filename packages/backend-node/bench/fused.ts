// Per-op times of the fused LLaMA-block ops on wasm, kernel against fallback (the unfused tfjs
// ops), forward and forward+backward, at the reference shape of `npm run bench:compare` (8×64
// tokens, hidden 256, FFN 1024, 4 heads of 64). CPU time of this process per call, mean of
// BENCH_REPS calls (less sensitive to a loaded machine than wall time). `npx tsx --conditions=@peftjs/source bench/fused.ts` (packages/backend-node).
import * as tf from '@tensorflow/tfjs-core';
import { maskedSoftmax, rmsNorm, rotary, swiGlu } from '@peftjs/core';
import { setupBackend, setWasmFastPaths } from '../src/index.js';

const reps = Number(process.env['BENCH_REPS'] ?? 30);
await setupBackend({ prefer: 'wasm', threads: 1 });
const [B, T, D, I, H, hd] = [8, 64, 256, 1024, 4, 64];
const r = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', 7);

const cases: Array<[string, tf.Tensor[], (...x: tf.Tensor[]) => tf.Tensor]> = [
  [
    'RoPE q [8,4,64,64]',
    [r([B, H, T, hd]), r([1, 1, T, hd]), r([1, 1, T, hd])],
    (x, c, s) => rotary({ x: x!, cos: c!, sin: s! }, { transpose: false }),
  ],
  ['RMSNorm [8,64,256]', [r([B, T, D]), r([D])], (x, w) => rmsNorm({ x: x!, weight: w! }, { eps: 1e-6 })],
  ['SwiGLU [8,64,1024]', [r([B, T, I]), r([B, T, I])], (g, u) => swiGlu({ gate: g!, up: u! }, {})],
  ['masked softmax [8,4,64,64]', [r([B, H, T, T]), tf.zeros([B, 1, T, T])], (s, b) => maskedSoftmax({ scores: s!, bias: b! }, {})],
];

/** CPU milliseconds (user + system, this process) per call, mean of `reps` calls after 3 warm-ups. */
function cpuMs(fn: () => void): number {
  for (let i = 0; i < 3; i++) fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / reps;
}

console.log(`| op | kernel fwd | fallback fwd | kernel fwd+bwd | fallback fwd+bwd |\n|---|---|---|---|---|`);
for (const [name, xs, op] of cases) {
  const row: string[] = [];
  const fwd = () => tf.tidy(() => void op(...xs).dataSync());
  // gradient with respect to the first input only (what a LoRA step needs: activations, no frozen weights)
  const bwd = () =>
    tf.tidy(
      () =>
        void tf
          .grad((x: tf.Tensor) => tf.sum(op(x, ...xs.slice(1))))(xs[0]!)
          .dataSync(),
    );
  // kernel and fallback alternate, twice each; the lower of the two means is kept
  const best = [Infinity, Infinity, Infinity, Infinity];
  for (let round = 0; round < 4; round++) {
    const fused = round % 2 === 0;
    setWasmFastPaths({ fusedKernels: fused });
    const at = fused ? 0 : 2;
    best[at] = Math.min(best[at]!, cpuMs(fwd));
    best[at + 1] = Math.min(best[at + 1]!, cpuMs(bwd));
  }
  row.push(...best.map((x) => x.toFixed(2)));
  console.log(`| ${name} | ${row[0]} ms | ${row[2]} ms | ${row[1]} ms | ${row[3]} ms |`);
}
