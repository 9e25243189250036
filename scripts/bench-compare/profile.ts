// Where a peftjs LoRA step's time and memory go, per kernel (tf.profile), at the reference or
// SmolLM-135M shape: `node --conditions=@peftjs/source --import tsx scripts/bench-compare/profile.ts --shape smol`
import * as tf from '@tensorflow/tfjs-core';
import { arg } from './shapes.js';
import { benchStep, heap, mb, rss } from './step.js';

const { mode, step } = await benchStep();
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  step();
  console.log(`call ${i + 1}: ${(performance.now() - t0).toFixed(0)} ms, wasm heap ${mb(heap())}, rss ${mb(rss())}`);
}
const p = await tf.profile(step);
const by = new Map<string, { ms: number; n: number }>();
let total = 0;
for (const k of p.kernels) {
  const ms = Number(k.kernelTimeMs) || 0;
  total += ms;
  const key = ['BatchMatMul', 'PeftLoraMatMul', 'Identity', 'Cast', 'Exp', 'Slice', 'Concat'].includes(k.name)
    ? `${k.name} ${k.inputShapes.map((x) => `[${x}]`).join('·')}`
    : k.name;
  const e = by.get(key) ?? { ms: 0, n: 0 };
  e.ms += ms;
  e.n++;
  by.set(key, e);
}
console.log(
  `profiled ${mode} step: kernels ${total.toFixed(0)} ms in ${p.kernels.length} kernel calls; peak tf bytes in step ${mb(p.peakBytes)}`,
);
for (const [k, v] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(arg('top', '25')))) {
  console.log(`${v.ms.toFixed(1).padStart(8)} ms ${((100 * v.ms) / total).toFixed(1).padStart(5)}%  ×${v.n}  ${k}`);
}
console.log(`max rss ${mb(process.resourceUsage().maxRSS * 1024)}`);
