// `npm run bench:optimizer`: one AdamW step on wasm with peftjs' kernels (PeftEma, PeftAdamUpdate)
// against their tfjs fallbacks (the `fusedKernels` fast path off), interleaved in one process, for
// the parameters of the reference model's full fine-tuning and of SmolLM-135M's LoRA (r 8 on q, v).
// Median of BENCH_REPS (default 15) steps each, after 3 warm-up steps.
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, setWasmFastPaths } from '@peftjs/backend-node';
import { AdamW } from '@peftjs/train';

const REPS = Number(process.env['BENCH_REPS'] ?? 15);
const layer = [[256], [256, 256], [256, 256], [256, 256], [256, 256], [256], [1024, 256], [1024, 256], [256, 1024]];
const SETS: Record<string, number[][]> = {
  'reference full fine-tuning': [[512, 256], [512, 256], ...Array.from({ length: 4 }, () => layer).flat(), [256]],
  'SmolLM-135M LoRA': Array.from({ length: 30 }, () => [
    [8, 576],
    [576, 8],
    [8, 576],
    [192, 8],
  ]).flat(),
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const info = await setupBackend({ prefer: 'wasm', threads: 1 });
console.log(`${info.reason}; median of ${REPS} steps`);
for (const [name, shapes] of Object.entries(SETS)) {
  const size = shapes.reduce((p, s) => p + s.reduce((a, b) => a * b, 1), 0);
  const vars = shapes.map((s, i) => tf.variable(tf.randomNormal(s), true, `${name}/${i}`));
  const grads = shapes.map((s) => tf.randomNormal(s));
  const opt = new AdamW(vars.map((v) => [v.name, v] as [string, tf.Variable]));
  const times: Record<'kernels' | 'fallback', number[]> = { kernels: [], fallback: [] };
  for (let r = 0; r < REPS + 3; r++) {
    for (const mode of ['kernels', 'fallback'] as const) {
      setWasmFastPaths({ fusedKernels: mode === 'kernels' });
      const t0 = performance.now();
      opt.step(grads, 1e-3);
      if (r >= 3) times[mode].push(performance.now() - t0);
    }
  }
  setWasmFastPaths({ fusedKernels: true });
  const [k, f] = [median(times.kernels), median(times.fallback)];
  console.log(
    `${name} (${shapes.length} tensors, ${(size / 1e6).toFixed(2)}M values): kernels ${k.toFixed(1)} ms, tfjs ops ${f.toFixed(1)} ms (${(f / k).toFixed(2)}×)`,
  );
  opt.dispose();
  tf.dispose([...vars, ...grads]);
}
