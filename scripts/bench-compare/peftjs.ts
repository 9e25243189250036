// peftjs side of `npm run bench:compare`: the work of torch_llama.py on the whole peftjs stack
// (LlamaForCausalLM from @peftjs/models, LoRA r 8 α 16 on q,v through PeftModel, @peftjs/train's
// AdamW, setupBackend). One configuration per process (wasm threads are set once); prints one JSON line.
//   tsx --conditions=@peftjs/source scripts/bench-compare/peftjs.ts --shape ref --threads 1 [--recompute] [--seq N]
// --recompute: the LoRA row with activation recomputation (`gradientCheckpointing`, layers in training mode).
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, setWasmFastPaths, type WasmFastPaths } from '@peftjs/backend-node';
import { PeftModel, PeftRegistry, Rng } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { generate } from '@peftjs/models';
import { AdamW } from '@peftjs/train';
import { SHAPES, arg, buildLlama } from './shapes.js';

const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Median ms of `steps` calls after two warm-up calls; the first call's time is kept too, and the
 * median CPU time of the process per call (all its threads: on a loaded machine it moves less than wall time).
 */
function timed(fn: () => void, steps: number): { median: number; first: number; cpu: number } {
  let t0 = performance.now();
  fn();
  const first = performance.now() - t0;
  fn();
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    t0 = performance.now();
    const c0 = cpuNow();
    fn();
    times.push(performance.now() - t0);
    cpu.push(cpuNow() - c0);
  }
  return { median: median(times), first, cpu: median(cpu) };
}

type Model = ReturnType<typeof buildLlama>;
interface Forwardable {
  forward(b: { inputIds: tf.Tensor; labels?: tf.Tensor }): { loss?: tf.Tensor };
}

/** One AdamW step over `vars` (the Trainer's math without its bookkeeping); */
function trainStep(model: Forwardable, opt: AdamW, vars: tf.Variable[], ids: tf.Tensor): void {
  const grads = tf.tidy(() => {
    const { grads: g } = tf.variableGrads(() => model.forward({ inputIds: ids, labels: ids }).loss as tf.Scalar, vars);
    return vars.map((v) => g[v.name]!);
  });
  opt.step(grads, 1e-3);
  tf.dispose(grads);
}

async function main(): Promise<void> {
  const s = { ...SHAPES[arg('shape', 'ref') as keyof typeof SHAPES] };
  const seq = Number(arg('seq', '0'));
  if (seq) s.seq = seq;
  const rows = arg('rows', 'lora,forward,full,decode').split(',');
  const steps = Number(arg('steps', '6'));
  const recompute = process.argv.includes('--recompute');
  const info = await setupBackend({ prefer: arg('backend', 'wasm') as 'wasm', threads: Number(arg('threads', '1')) });
  // `--off fusedKernels,gemm`: wasm fast paths turned off (A/B runs of one change)
  const off = arg('off', '');
  if (off) setWasmFastPaths(Object.fromEntries(off.split(',').map((k) => [k, false])) as Partial<WasmFastPaths>);
  const rng = new Rng(2);
  const ids = tf.tensor2d(
    Array.from({ length: s.batch * s.seq }, () => rng.int(s.vocab)),
    [s.batch, s.seq],
    'int32',
  );
  const out: Record<string, unknown> = { backend: info.name, threads: info.threads, simd: info.simd };
  const firstCalls: Record<string, number> = {};
  const cpuMs: Record<string, number> = {};
  let base: Model;

  if (rows.includes('full')) {
    base = buildLlama(s);
    const params = base.namedParameters();
    const opt = new AdamW(params);
    const vars = params.map(([, v]) => v);
    const t = timed(() => trainStep(base as unknown as Forwardable, opt, vars, ids), steps);
    out['full'] = t.median;
    firstCalls['full'] = t.first;
    cpuMs['full'] = t.cpu;
    opt.dispose();
    base.dispose();
  }

  base = buildLlama(s);
  const peft = new PeftModel(base as never, { registry: new PeftRegistry().use(lora) });
  peft.addAdapter('default', { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
  if (rows.includes('lora')) {
    if (recompute) {
      base.gradientCheckpointing = true;
      peft.train(); // recomputation runs in training mode, as transformers (no dropout in this shape)
    }
    const params = peft.trainableParameters();
    const opt = new AdamW(params);
    const vars = params.map(([, v]) => v);
    const n0 = tf.memory().numTensors;
    const t = timed(() => trainStep(peft as unknown as Forwardable, opt, vars, ids), steps);
    out['lora'] = t.median;
    out['loraTensorsGained'] = tf.memory().numTensors - n0;
    out['recompute'] = recompute;
    peft.eval();
    base.gradientCheckpointing = false;
    firstCalls['lora'] = t.first;
    cpuMs['lora'] = t.cpu;
    opt.dispose();
  }
  if (rows.includes('forward')) {
    const t = timed(() => {
      tf.tidy(() => (peft as unknown as Forwardable).forward({ inputIds: ids, labels: ids }).loss!.dataSync());
    }, steps);
    out['forward'] = t.median;
    firstCalls['forward'] = t.first;
    cpuMs['forward'] = t.cpu;
  }
  if (rows.includes('decode')) {
    const prompt = Array.from(ids.slice([0, 0], [1, 8]).dataSync());
    const n = 32;
    const rates: number[] = [];
    for (let r = 0; r < 3; r++) {
      const stamps: number[] = [];
      await generate(base, [prompt], { maxNewTokens: n + 1, onToken: () => void stamps.push(performance.now()) });
      rates.push(n / ((stamps[stamps.length - 1]! - stamps[0]!) / 1000));
    }
    rates.sort((a, b) => a - b);
    out['decode'] = rates[1];
  }
  out['firstCallMs'] = firstCalls;
  out['cpuMs'] = cpuMs;
  out['rss_mb'] = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify(out));
  peft.dispose();
  base.dispose();
  ids.dispose();
}

await main();
