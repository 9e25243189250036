// Where a peftjs LoRA step's time and memory go, per kernel (tf.profile), at the reference or
// SmolLM-135M shape: `node --conditions=@peftjs/source --import tsx scripts/bench-compare/profile.ts --shape smol`
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@peftjs/backend-node';
import { PeftModel, PeftRegistry, Rng } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { AdamW } from '@peftjs/train';
import { SHAPES, arg, buildLlama } from './shapes.js';

const s = { ...SHAPES[arg('shape', 'ref') as keyof typeof SHAPES] };
if (Number(arg('seq', '0'))) s.seq = Number(arg('seq', '0'));
const mode = arg('mode', 'lora');
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
const heap = () => (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.byteLength ?? 0;
const rss = () => process.memoryUsage().rss;

const info = await setupBackend({ prefer: 'wasm', threads: Number(arg('threads', '1')) });
console.log(info.reason);
const base = buildLlama(s);
const peft = new PeftModel(base as never, { registry: new PeftRegistry().use(lora) });
peft.addAdapter('default', { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
console.log(
  `model built: tensors ${tf.memory().numTensors}, tf bytes ${mb(tf.memory().numBytes)}, wasm heap ${mb(heap())}, rss ${mb(rss())}`,
);
const params = peft.trainableParameters();
const opt = new AdamW(params);
const vars = params.map(([, v]) => v);
const rng = new Rng(2);
const ids = tf.tensor2d(
  Array.from({ length: s.batch * s.seq }, () => rng.int(s.vocab)),
  [s.batch, s.seq],
  'int32',
);
const fwd = (peft as unknown as { forward(b: object): { loss: tf.Scalar } }).forward.bind(peft);
const step = () => {
  if (mode === 'forward') return void tf.tidy(() => fwd({ inputIds: ids, labels: ids }).loss.dataSync());
  const g = tf.tidy(() => {
    const { grads } = tf.variableGrads(() => fwd({ inputIds: ids, labels: ids }).loss, vars);
    return vars.map((v) => grads[v.name]!);
  });
  opt.step(g, 1e-3);
  tf.dispose(g);
};
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
