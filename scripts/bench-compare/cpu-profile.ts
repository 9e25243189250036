// Where a peftjs step's CPU time goes on the calling thread, by sampling (V8's profiler through
// node:inspector), after 3 warm-up steps: wasm (by module function), tfjs JS, peftjs JS, GC; and,
// with `--threads 2`, the GEMM pool's statistics a step (products split, ms waiting on helpers).
// wasm modules show by content hash: in peftjs' GEMM module function 0 is the micro-kernel, 1 packs
// B, 2 packs A, 3 the driver, 4 gemvT (wat.ts' order); the elementwise module follows its wat.ts.
// `node --conditions=@peftjs/source --import tsx scripts/bench-compare/cpu-profile.ts --shape ref --threads 2 [--steps 10] [--out file]`
import fs from 'node:fs';
import inspector from 'node:inspector';
import * as tf from '@tensorflow/tfjs-core';
import { gemmPoolStatsOf } from '@peftjs/backend-node';
import { arg } from './shapes.js';
import { benchStep } from './step.js';

interface Profile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>;
  samples: number[];
  timeDeltas: number[];
}

const { mode, step } = await benchStep();
for (let i = 0; i < 3; i++) step();
const session = new inspector.Session();
session.connect();
const post = <T>(method: string, params: object = {}) =>
  new Promise<T>((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r as T))));
const stats = () => ({ ...(gemmPoolStatsOf(tf.backend()) ?? {}) }) as Record<string, number>;
const before = stats();
await post('Profiler.enable');
await post('Profiler.setSamplingInterval', { interval: 200 });
await post('Profiler.start');
const N = Number(arg('steps', '10'));
const t0 = performance.now();
for (let i = 0; i < N; i++) step();
const ms = (performance.now() - t0) / N;
const { profile } = await post<{ profile: Profile }>('Profiler.stop');
if (arg('out', '')) fs.writeFileSync(arg('out', ''), JSON.stringify(profile));

const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
const kind = (f: { functionName: string; url: string }) =>
  f.functionName.startsWith('wasm-function') || f.url.startsWith('wasm')
    ? `wasm ${f.url.split('/').pop()} ${f.functionName}`
    : f.functionName === '(garbage collector)'
      ? 'GC'
      : f.url.includes('tfjs-backend-wasm')
        ? 'tfjs-backend-wasm JS'
        : f.url.includes('tfjs-core') || f.url.includes('tf-core')
          ? 'tfjs-core JS'
          : f.url.includes('/packages/')
            ? 'peftjs JS'
            : 'other (Node, native)';
const total = new Map<string, number>();
let all = 0;
profile.samples.forEach((id, i) => {
  const k = kind(byId.get(id)!);
  const dt = profile.timeDeltas[i] ?? 0;
  all += dt;
  total.set(k, (total.get(k) ?? 0) + dt);
});
console.log(`${mode}: ${ms.toFixed(1)} ms a step over ${N} steps; calling thread, per step:`);
for (const [k, us] of [...total].sort((a, b) => b[1] - a[1]).slice(0, Number(arg('top', '15')))) {
  console.log(`${(us / 1000 / N).toFixed(1).padStart(8)} ms ${((100 * us) / all).toFixed(1).padStart(5)}%  ${k}`);
}
if (gemmPoolStatsOf(tf.backend())) {
  const line = Object.entries(stats()).map(([k, v]) => `${k} ${((v - (before[k] ?? 0)) / N).toFixed(1)}`);
  console.log(`GEMM pool a step: ${line.join(', ')}`);
}
