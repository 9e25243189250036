// npm run bench -w @peftjs/backend-webgpu
// Per-kernel time and GFLOP/s (our WGSL kernels against the tfjs ops they replace), a LoRA step of
// PERFORMANCE.md's reference shape and greedy generation, on webgpu and on wasm. Without a GPU the
// adapter is SwiftShader (Vulkan on the CPU): its figures only prove that everything runs.
// BENCH_STEPS (default 2), BENCH_REPS (kernel repetitions, default 3), BENCH_WASM=0 skips wasm.
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@peftjs/backend-node';
import { PeftModel, PeftRegistry, Rng, loraMatMul, nf4MatMul, bytesToInt32Words, type ModelOutput } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { generate, modelFromConfig, type ModelBatch } from '@peftjs/models';
import { setupWebGPU } from '../src/index.js';

const SHAPE = { vocab: 512, hidden: 256, layers: 4, heads: 4, ffn: 1024, seq: 64, batch: 8 };
const STEPS = Number(process.env.BENCH_STEPS ?? 2);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const rows: string[] = [];
const row = (line: string) => {
  rows.push(line);
  console.log(line);
};

/** Median wall time of `f` (awaiting its result's data), after one warm-up call that compiles shaders. */
async function time(f: () => tf.Tensor | tf.Tensor[], reps = REPS): Promise<number> {
  const run = async () => {
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    for (const t of list) await t.data();
    tf.dispose(list);
  };
  await run();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
}

const gflops = (flop: number, ms: number) => (flop / ms / 1e6).toFixed(2);

async function kernels(backend: string): Promise<void> {
  // the reference step's q/v projection and FFN-sized products: 512 tokens × 256 → 256 and → 1024, r 8
  for (const [M, K, N, r] of [
    [512, 256, 256, 8],
    [512, 256, 1024, 8],
  ] as const) {
    const x = tf.randomNormal([M, K], 0, 1, 'float32', 1);
    const w = tf.randomNormal([N, K], 0, 0.05, 'float32', 2);
    const a = tf.randomNormal([r, K], 0, 0.05, 'float32', 3);
    const b = tf.randomNormal([N, r], 0, 0.05, 'float32', 4);
    const dy = tf.randomNormal([M, N], 0, 1, 'float32', 5);
    const inputs = { x, weight: w, loraA: a, loraB: b };
    const fwd = 2 * M * K * N + 2 * M * K * r + 2 * M * r * N;
    const fused = await time(() => loraMatMul(inputs, { scaling: 2 }));
    const stock = await time(() => loraMatMul.spec.fallback(inputs, { scaling: 2 }));
    const plain = await time(() => tf.matMul(x, w, false, true));
    // backward of dx, dA, dB (W frozen), through the registered gradient vs the tfjs ops
    const bwd = 2 * M * N * K + 2 * M * N * r * 2 + 2 * M * r * K * 2;
    const grads = (op: typeof loraMatMul.spec.fallback) => () =>
      tf.grads((xx: tf.Tensor, aa: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(op({ x: xx, weight: w, loraA: aa, loraB: bb }, { scaling: 2 }), dy)),
      )([x, a, b]);
    const fusedB = await time(grads((i, at) => loraMatMul(i, at)));
    const stockB = await time(grads(loraMatMul.spec.fallback));
    row(
      `| ${backend} | LoRA forward ${M}×${K}→${N} r${r} | ${fused.toFixed(1)} ms (${gflops(fwd, fused)} GFLOP/s) | ${stock.toFixed(1)} ms (${gflops(fwd, stock)}) | x·Wᵀ alone: ${plain.toFixed(1)} ms (${gflops(2 * M * K * N, plain)}) |`,
    );
    row(
      `| ${backend} | LoRA forward+backward ${M}×${K}→${N} r${r} | ${fusedB.toFixed(1)} ms (${gflops(fwd + bwd, fusedB)}) | ${stockB.toFixed(1)} ms (${gflops(fwd + bwd, stockB)}) | |`,
    );
    tf.dispose([x, w, a, b, dy]);
  }
  const [M, out, inF, bs] = [512, 256, 256, 64];
  const rng = new Rng(9);
  const nblocks = (out * inF) / bs;
  const q = {
    packed: tf.tensor1d(bytesToInt32Words(Uint8Array.from({ length: (out * inF) / 2 }, () => rng.int(256))), 'int32'),
    absmax: tf.tensor1d(bytesToInt32Words(Uint8Array.from({ length: nblocks }, () => rng.int(256))), 'int32'),
    code: tf.tensor1d(Float32Array.from({ length: 16 }, (_, i) => (i - 7.5) / 7.5)),
    nestedAbsmax: tf.tensor1d(Float32Array.from({ length: Math.ceil(nblocks / 256) }, () => 0.01 + rng.next())),
    nestedCode: tf.tensor1d(Float32Array.from({ length: 256 }, (_, i) => (i - 127) / 128)),
  };
  const attrs = {
    outFeatures: out,
    inFeatures: inF,
    blockSize: bs,
    doubleQuant: true,
    nestedBlockSize: 256,
    offset: 0.01,
    transposed: false,
  };
  const x = tf.randomNormal([M, inF], 0, 1, 'float32', 6);
  const k = await time(() => nf4MatMul({ x, ...q }, attrs));
  const f = await time(() => nf4MatMul.spec.fallback({ x, ...q }, attrs));
  row(
    `| ${backend} | NF4 matmul ${M}×${inF}→${out} (block 64, double quant) | ${k.toFixed(1)} ms (${gflops(2 * M * inF * out, k)}) | ${f.toFixed(1)} ms (${gflops(2 * M * inF * out, f)}) | |`,
  );
  tf.dispose([x, ...Object.values(q)]);
}

function referenceModel(): { peft: PeftModel<ModelBatch, ModelOutput>; newCache: () => unknown } {
  const base = modelFromConfig(
    {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      vocab_size: SHAPE.vocab,
      hidden_size: SHAPE.hidden,
      intermediate_size: SHAPE.ffn,
      num_hidden_layers: SHAPE.layers,
      num_attention_heads: SHAPE.heads,
      num_key_value_heads: SHAPE.heads,
      max_position_embeddings: 128,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: false,
    },
    { rng: new Rng(1) },
  );
  const peft = new PeftModel(base as never, { registry: new PeftRegistry().use(lora) }) as PeftModel<ModelBatch, ModelOutput>;
  peft.addAdapter('default', { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
  return { peft, newCache: () => (base as unknown as { newCache(): unknown }).newCache() };
}

async function training(backend: string): Promise<void> {
  const { peft, newCache } = referenceModel();
  const rng = new Rng(2);
  const ids = tf.tensor2d(
    Array.from({ length: SHAPE.batch * SHAPE.seq }, () => rng.int(SHAPE.vocab)),
    [SHAPE.batch, SHAPE.seq],
    'int32',
  );
  const batch: ModelBatch = { inputIds: ids, attentionMask: tf.onesLike(ids), labels: ids };
  const optimizer = tf.train.adam(1e-3);
  const vars = peft.trainableParameters().map(([, v]) => v);
  peft.train();
  const ms: number[] = [];
  let n0 = 0;
  for (let i = 0; i <= STEPS; i++) {
    const t0 = performance.now();
    const cost = optimizer.minimize(() => peft.forward(batch).loss as tf.Scalar, true, vars)!;
    await cost.data();
    cost.dispose();
    if (i === 0) n0 = tf.memory().numTensors;
    else ms.push(performance.now() - t0);
  }
  const step = ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
  const leak = tf.memory().numTensors - n0;
  peft.eval();
  const prompt = [Array.from({ length: 8 }, (_, i) => (i * 37) % SHAPE.vocab)];
  const gm = { forward: peft.forward.bind(peft), newCache };
  await generate(gm as never, prompt, { maxNewTokens: 2 });
  const t0 = performance.now();
  const gen = await generate(gm as never, prompt, { maxNewTokens: 16 });
  const tokS = gen.newTokens[0]!.length / ((performance.now() - t0) / 1000);
  row(
    `| ${backend} | LoRA step (reference shape, r 8 on q,v, Adam; ${STEPS} steps after 1 warm-up) | ${step.toFixed(0)} ms, ${((SHAPE.batch * SHAPE.seq) / (step / 1000)).toFixed(0)} tokens/s, tensors +${leak} | | generation: ${tokS.toFixed(1)} tokens/s (greedy, 16 tokens, KV cache) |`,
  );
  optimizer.dispose();
  tf.dispose([ids, batch.attentionMask!]);
}

const info = await setupWebGPU();
console.log(
  `adapter: ${info.adapter!.vendor} / ${info.adapter!.architecture} / ${info.adapter!.description} (${info.gpu ? 'hardware' : 'software'}); ${info.reason}`,
);
await kernels('webgpu');
await training('webgpu');
if (process.env.BENCH_WASM !== '0') {
  const w = await setupBackend({ prefer: 'wasm' });
  console.log(`wasm: ${w.reason}`);
  await kernels('wasm');
  await training('wasm');
}
console.log(`\n| backend | what | ours (median) | tfjs ops (fallback) | note |\n|---|---|---|---|---|\n${rows.join('\n')}`);
process.exit(0);
