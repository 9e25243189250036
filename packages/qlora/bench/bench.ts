// npm run bench -w @peftjs/qlora — the numbers of the QLoRA issue:
//   1. bits per parameter of a 4-bit base (large matrix, double quant vs not);
//   2. memory of a ~100M-parameter LLaMA-shaped random folder loaded in float32 vs quantized on load
//      (tfjs bytes, peak RSS; each load in its own process), and the old whole-file reader's peak;
//   3. NF4 matmul vs float matmul (peftjs' GEMM) of the same shape on wasm, timed alternately (which
//      kernel ran is printed): LLaMA shapes, with the input gradient, decoding rows (hot and cold weights);
//   4. QLoRA vs LoRA training step on the bundled model;
//   5. the demo's riddle fine-tune: held-out val_loss of QLoRA vs LoRA;
//   6. AdamW8bit's moment memory;
//   7. a LoRA step on a float32 base vs the same base in NF4, alternating, at SmolLM's layer shape.
// BENCH_ONLY=1,3 runs a subset; BENCH_STEPS sets the fine-tune steps (default 120, the demo's),
// BENCH_STEP_REPS the steps of 7 (default 7).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@peftjs/backend-node';
import { PeftModel, PeftRegistry, Rng } from '@peftjs/core';
import { readSafetensorsFile, entryToTensor, serializeSafetensors, type TensorSource } from '@peftjs/core/io';
import { lora } from '@peftjs/lora';
import { SkipInitRng, loadModel, loadTokenizer, modelFromConfig, type LlamaForCausalLM } from '@peftjs/models';
import { AdamW8bit, Trainer, collateExamples, evaluateModel, loadJsonlDataset, type EncodedExample } from '@peftjs/train';
import '../src/register.js';
import { Linear4bit, bitsPerParameter, linear4bitModules, quantize4bit } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.env.BENCH_ONLY?.split(',').map(Number);
const want = (n: number) => !only || only.includes(n);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

// ---- 2. the ~100M model, each load in a child process ------------------------------------
const BIG = {
  vocab_size: 16000,
  hidden_size: 768,
  intermediate_size: 2048,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_key_value_heads: 12,
};
const BIG_DIR = join(tmpdir(), 'peftjs-qlora-bench-100m');

/** A random LLaMA folder of the shape (F32, weights ~ U(±0.02), norms 1), written once. */
function writeLlamaFolder(dir: string, shape: typeof BIG): void {
  if (existsSync(join(dir, 'model.safetensors'))) return;
  mkdirSync(dir, { recursive: true });
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    ...shape,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
  };
  const model = modelFromConfig(config, { rng: new SkipInitRng(0) });
  let s = 12345;
  const tensors = new Map<string, TensorSource>();
  for (const [name, v] of model.namedParameters()) {
    const data = new Float32Array(v.size);
    if (name.endsWith('norm.weight')) data.fill(1);
    else for (let i = 0; i < data.length; i++) data[i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.04;
    tensors.set(name, { dtype: 'F32', shape: [...v.shape], data });
  }
  model.dispose();
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(tensors, { metadata: { format: 'pt' } }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
}

/** Child: load the folder one way and print tfjs bytes, peak RSS and 4-bit accounting as JSON. */
async function child(mode: string): Promise<void> {
  const t0 = performance.now();
  let model: LlamaForCausalLM;
  if (mode === 'whole-file') {
    // the loader before header-first loading: the whole file in memory, then tensor by tensor
    model = modelFromConfig(JSON.parse((await import('node:fs')).readFileSync(join(BIG_DIR, 'config.json'), 'utf8')), {
      rng: new SkipInitRng(0),
    }) as LlamaForCausalLM;
    const file = await readSafetensorsFile(join(BIG_DIR, 'model.safetensors'));
    const params = new Map(model.namedParameters());
    for (const [name, e] of file.tensors) {
      const t = entryToTensor(e);
      params.get(name)!.assign(t);
      t.dispose();
    }
  } else {
    model = (await loadModel(BIG_DIR, mode === 'nf4' ? { quantize: { type: 'nf4', doubleQuant: true } } : {})) as LlamaForCausalLM;
  }
  const layers = linear4bitModules(model);
  const linearParams = layers.reduce((a, [, l]) => a + l.inFeatures * l.outFeatures, 0);
  const linearBytes = layers.reduce((a, [, l]) => a + l.quantizedBytes, 0);
  const params = model.namedParameters().reduce((a, [, v]) => a + v.size, 0) + linearParams;
  const out = {
    mode,
    params,
    tfjsBytes: tf.memory().numBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    linearParams,
    linearBytes,
    seconds: (performance.now() - t0) / 1000,
  };
  console.log(JSON.stringify(out));
}

function runChild(mode: string): Record<string, number> & { mode: string } {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'child', mode], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`bench child ${mode} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as Record<string, number> & { mode: string };
}

// ---- 3. matmul ---------------------------------------------------------------------------
/**
 * y = x·Wᵀ with a 4-bit W (`Linear4bit.baseForward`: the `PeftNf4MatMul` op) vs the float32 W through
 * tf.matMul (on wasm: peftjs' GEMM); `withGrad` adds the input gradient dy·W (the op with `transposed`
 * set). The two are timed alternately in one loop (the machine is shared): medians.
 */
function matmulTimes(
  M: number,
  K: number,
  N: number,
  opts: { withGrad?: boolean; weights?: number } = {},
): { nf4: number; f32: number; kernel: string } {
  const rng = new Rng(3);
  // `weights` > 1: a different W each call, cycling (a decode step's layers: float weights leave the cache)
  const ws = Array.from({ length: opts.weights ?? 1 }, () => Float32Array.from({ length: N * K }, () => rng.normal() * 0.02));
  const layers = ws.map((w) => new Linear4bit(quantize4bit(w, [N, K])));
  const weights = ws.map((w) => tf.tensor2d(w, [N, K]));
  const x = tf.randomNormal([M, K]);
  const dy = tf.randomNormal([M, N]);
  let l = 0;
  const run = (f: (i: number) => tf.Tensor) => {
    const t0 = performance.now();
    const y = f(l++ % ws.length);
    y.dataSync();
    y.dispose();
    return performance.now() - t0;
  };
  const timed = (f: (x: tf.Tensor, i: number) => tf.Tensor) =>
    opts.withGrad ? (i: number) => tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(f(xi, i), dy)))(x) : (i: number) => f(x, i);
  const nf4 = timed((xi, i) => layers[i]!.baseForward(xi));
  const f32 = timed((xi, i) => tf.matMul(xi, weights[i]!, false, true));
  for (let i = 0; i < ws.length; i++) {
    run(nf4);
    run(f32);
  }
  const reps = Math.max(ws.length * 5, Math.min(41, Math.round(2e9 / (M * K * N))));
  const [a, b]: number[][] = [[], []];
  for (let i = 0; i < reps; i++) {
    a.push(run(nf4));
    l--;
    b.push(run(f32));
  }
  const kernel = tf.getKernel('PeftNf4MatMul', tf.getBackend())
    ? `registered ${tf.getBackend()} kernel`
    : 'tfjs-ops fallback (dequantize per call)';
  layers.forEach((x) => x.dispose());
  tf.dispose([...weights, x, dy]);
  return { nf4: median(a), f32: median(b), kernel };
}

// ---- 7. LoRA step on a float base vs the same base in 4 bits, alternating ------------------
/** SmolLM-135M's layer shape (hidden 576, FFN 1536, 9 heads, 3 KV heads), 4 layers, a small vocabulary. */
const STEP_SHAPE = {
  vocab_size: 4096,
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 4,
  num_attention_heads: 9,
  num_key_value_heads: 3,
};
const STEP_DIR = join(tmpdir(), 'peftjs-qlora-bench-smol4');

/** One LoRA (r=8, all-linear) training step a call, Adam on the adapter, on the folder loaded as float32 or NF4. */
async function loraStepper(quantize: boolean, batch: { inputIds: tf.Tensor; attentionMask: tf.Tensor; labels: tf.Tensor }) {
  const base = (await loadModel(STEP_DIR, quantize ? { quantize: { type: 'nf4', doubleQuant: true } } : {})) as LlamaForCausalLM;
  const peft = new PeftModel(base, { registry: new PeftRegistry().use(lora) });
  peft.addAdapter('default', { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, target_modules: 'all-linear' });
  const vars = peft.trainableParameters().map(([, v]) => v);
  const opt = tf.train.adam(1e-3);
  return {
    step(): number {
      const t0 = performance.now();
      const loss = opt.minimize(() => peft.forward(batch).loss as tf.Scalar, true, vars)!;
      loss.dataSync();
      loss.dispose();
      return performance.now() - t0;
    },
    dispose(): void {
      opt.dispose();
      peft.dispose();
      base.dispose();
    },
  };
}

async function stepTimes(steps: number): Promise<{ lora: number; qlora: number; leak: number }> {
  writeLlamaFolder(STEP_DIR, { ...STEP_SHAPE, vocab_size: STEP_SHAPE.vocab_size });
  const rng = new Rng(5);
  const ids = tf.tensor2d(
    Int32Array.from({ length: 2 * 128 }, () => rng.int(STEP_SHAPE.vocab_size)),
    [2, 128],
    'int32',
  );
  const batch = { inputIds: ids, attentionMask: tf.onesLike(ids), labels: ids };
  const a = await loraStepper(false, batch);
  const b = await loraStepper(true, batch);
  a.step();
  b.step();
  const n0 = tf.memory().numTensors;
  const [ta, tb]: number[][] = [[], []];
  for (let i = 0; i < steps; i++) {
    ta.push(a.step());
    tb.push(b.step());
  }
  const leak = tf.memory().numTensors - n0;
  a.dispose();
  b.dispose();
  tf.dispose([ids, batch.attentionMask]);
  return { lora: median(ta), qlora: median(tb), leak };
}

// ---- 4/5. the bundled model --------------------------------------------------------------
function demoPaths(): { model: string; train: string; valid: string } {
  const require = createRequire(import.meta.url);
  const models = dirname(require.resolve('@peftjs/models/package.json'));
  const cli = resolve(here, '../../cli'); // the demo's riddles ship with @peftjs/cli (not a dependency of qlora)
  return {
    model: join(models, 'assets/peftjs-tiny-llama'),
    train: join(cli, 'assets/riddles/train.jsonl'),
    valid: join(cli, 'assets/riddles/valid.jsonl'),
  };
}

async function fineTune(quantize: boolean, steps: number): Promise<{ valLoss: number; stepMs: number; seconds: number }> {
  const p = demoPaths();
  const base = (await loadModel(p.model, quantize ? { quantize: { type: 'nf4', doubleQuant: true } } : {})) as LlamaForCausalLM;
  const tok = await loadTokenizer(p.model);
  const data = await loadJsonlDataset(p.train, tok, { maxLength: 64, validation: p.valid, seed: 42, warn: () => undefined });
  const peft = new PeftModel(base as never, { registry: new PeftRegistry().use(lora) }) as PeftModel<never, never>;
  peft.addAdapter('default', {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: 8,
    lora_alpha: 16,
    lora_dropout: 0.05,
    target_modules: 'all-linear',
  });
  const pad = tok.padTokenId ?? tok.eosTokenId ?? 0;
  const times: number[] = [];
  let last = performance.now();
  const trainer = new Trainer({
    model: peft as never,
    trainData: data.train,
    padTokenId: pad,
    batchSize: 8,
    maxSteps: steps,
    learningRate: 5e-3,
    schedule: 'cosine',
    warmupSteps: 10,
    maxGradNorm: 1,
    seed: 42,
    onEvent: (e) => {
      if (e.type !== 'step') return;
      const now = performance.now();
      if (e.step > 1) times.push(now - last);
      last = now;
    },
  });
  const t0 = performance.now();
  await trainer.train();
  const seconds = (performance.now() - t0) / 1000;
  const valLoss = evaluateModel(peft as never, data.validation as EncodedExample[], {
    batchSize: 16,
    collate: (x) => collateExamples(x, pad),
  }).loss;
  trainer.dispose();
  peft.dispose();
  base.dispose();
  return { valLoss, stepMs: median(times), seconds };
}

async function main(): Promise<void> {
  if (process.argv[2] === 'child') {
    await setupBackend({ prefer: 'cpu' });
    return child(process.argv[3]);
  }
  const info = await setupBackend({ prefer: 'wasm' });
  console.log(`# @peftjs/qlora bench — backend ${info.name}${info.threads > 1 ? ` (${info.threads} threads)` : ''}\n`);
  if (want(1)) {
    const w = Float32Array.from({ length: 4096 * 4096 }, (_, i) => Math.sin(i * 0.618) * 0.02);
    const dq = quantize4bit(w, [4096, 4096]);
    const plain = quantize4bit(w, [4096, 4096], { doubleQuant: false });
    const l = new Linear4bit(dq);
    console.log(
      `1. bits/param, 4096×4096 NF4, blocks of 64: ${bitsPerParameter(dq).toFixed(4)} with double quant, ${bitsPerParameter(plain).toFixed(4)} without; in memory (int32 words): ${((8 * l.quantizedBytes) / w.length).toFixed(4)} bits = ${(l.quantizedBytes / w.length).toFixed(4)} bytes/param`,
    );
    l.dispose();
  }
  if (want(2)) {
    writeLlamaFolder(BIG_DIR, BIG);
    const rows = ['float32', 'whole-file', 'nf4'].map(runChild);
    console.log(
      `\n2. ~100M LLaMA-shaped random folder (${(rows[0].params / 1e6).toFixed(1)}M params, F32 file), each load in a fresh process (cpu backend):`,
    );
    console.log('| load | tfjs bytes | peak RSS | 4-bit linear bytes/param | load s |\n|---|---|---|---|---|');
    for (const r of rows) {
      const lin = r.linearParams ? (r.linearBytes / r.linearParams).toFixed(4) : '—';
      console.log(
        `| ${r.mode === 'whole-file' ? 'float32, old whole-file reader' : r.mode === 'nf4' ? 'nf4 + double quant, quantized on load' : 'float32, header-first reader'} | ${mib(r.tfjsBytes)} | ${mib(r.maxRssBytes)} | ${lin} | ${r.seconds.toFixed(1)} |`,
      );
    }
  }
  if (want(3)) {
    console.log(
      `\n3. NF4 matmul vs float32 matmul, same shape, on ${tf.getBackend()} (alternating, medians; load ${loadavg()[0]!.toFixed(1)}):`,
    );
    for (const [M, K, N, withGrad, weights] of [
      [512, 576, 1536, false, 1],
      [128, 1536, 576, false, 1],
      [512, 576, 1536, true, 1],
      [8, 2048, 2048, false, 1],
      [1, 576, 1536, false, 1],
      [2, 576, 1536, false, 1],
      [1, 576, 1536, false, 24],
    ] as const) {
      const r = matmulTimes(M, K, N, { withGrad, weights });
      const shape = `x [${M}, ${K}] · W[${N}, ${K}]ᵀ${withGrad ? ' + input gradient dy·W' : ''}${weights > 1 ? ` (${weights} weights in turn: ${((weights * N * K * 4) / 2 ** 20).toFixed(0)} MiB in f32)` : ''}`;
      console.log(
        `   ${shape}: nf4 ${r.nf4.toFixed(2)} ms, f32 ${r.f32.toFixed(2)} ms, ratio ${(r.nf4 / r.f32).toFixed(2)}× — kernel: ${r.kernel}`,
      );
    }
  }
  if (want(6)) {
    // LoRA r=64 on q,k,v,o,gate,up,down of one 4096-wide LLaMA-7B layer: A [64, in], B [out, 64]
    const shapes: Array<[number, number]> = [
      [4096, 4096],
      [4096, 4096],
      [4096, 4096],
      [4096, 4096],
      [11008, 4096],
      [11008, 4096],
      [4096, 11008],
    ];
    const params = shapes.flatMap(
      ([o, i], k) =>
        [
          [`l${k}.A`, tf.variable(tf.zeros([64, i]))],
          [`l${k}.B`, tf.variable(tf.zeros([o, 64]))],
        ] as const,
    );
    const before = tf.memory().numBytes;
    const opt = new AdamW8bit(params);
    const bytes = tf.memory().numBytes - before;
    const n = params.reduce((a, [, v]) => a + v.size, 0);
    console.log(
      `\n6. AdamW8bit moments for LoRA r=64 on one LLaMA-7B layer (${(n / 1e6).toFixed(2)}M params): ${mib(opt.stateBytes())} (tfjs bytes ${mib(bytes)}) vs float32 AdamW ${mib(8 * n)} — ${((100 * opt.stateBytes()) / (8 * n)).toFixed(1)}%`,
    );
    opt.dispose();
    tf.dispose(params.map(([, v]) => v));
  }
  if (want(7)) {
    const steps = Number(process.env.BENCH_STEP_REPS ?? 7);
    const r = await stepTimes(steps);
    const s = STEP_SHAPE;
    console.log(
      `\n7. LoRA training step (r=8 all-linear, Adam, batch 2×128) on a LLaMA of SmolLM's layer shape (hidden ${s.hidden_size}, FFN ${s.intermediate_size}, ${s.num_attention_heads}/${s.num_key_value_heads} heads, ${s.num_hidden_layers} layers, vocab ${s.vocab_size}), float32 base vs NF4 + double quant base, alternating, median of ${steps} (load ${loadavg()[0]!.toFixed(1)}): LoRA ${r.lora.toFixed(0)} ms, QLoRA ${r.qlora.toFixed(0)} ms (${(r.qlora / r.lora).toFixed(2)}×); tensors leaked over the steps: ${r.leak}`,
    );
  }
  if (want(4) || want(5)) {
    const steps = Number(process.env.BENCH_STEPS ?? 120);
    const loraRun = await fineTune(false, steps);
    const qloraRun = await fineTune(true, steps);
    console.log(
      `\n4. training step on the bundled peftjs-tiny-llama (batch 8, ≤64 tokens, LoRA r=8 all-linear), median: LoRA ${loraRun.stepMs.toFixed(1)} ms, QLoRA (nf4 + double quant base) ${qloraRun.stepMs.toFixed(1)} ms (${(qloraRun.stepMs / loraRun.stepMs).toFixed(2)}×)`,
    );
    const rel = (qloraRun.valLoss - loraRun.valLoss) / loraRun.valLoss;
    console.log(
      `5. riddle fine-tune, ${steps} steps as the demo: held-out val_loss LoRA ${loraRun.valLoss.toFixed(4)}, QLoRA ${qloraRun.valLoss.toFixed(4)} (${(100 * rel).toFixed(1)}% vs LoRA; target: at most +10%) — ${loraRun.seconds.toFixed(0)} s vs ${qloraRun.seconds.toFixed(0)} s`,
    );
  }
}

await main();
