// Forward (prefill) and generation throughput of the models, per backend, printed as a table.
//   npm run bench -w @peftjs/models            (all)
//   BENCH_BACKENDS=cpu BENCH_MODELS=tiny npm run bench -w @peftjs/models
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setupBackend } from '@peftjs/backend-node';
import { Rng } from '@peftjs/core';
import { LlamaForCausalLM, loadModel, generate, type CausalLMModel } from '../src/index.js';

interface Row {
  model: string;
  params: string;
  backend: string;
  prefill: string;
  forwardTokS: number;
  decodeTokS: number;
}

const TINY_DIR = fileURLToPath(new URL('../assets/peftjs-tiny-llama', import.meta.url));

/** ~110M parameters: hidden 768, 12 layers, 12 heads, intermediate 2048, vocab 32000 (tied). */
const LLAMA_100M = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  hidden_size: 768,
  intermediate_size: 2048,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_key_value_heads: 12,
  vocab_size: 32000,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
};

const env = (k: string, d: string) =>
  (process.env[k] ?? d)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

async function build(name: string): Promise<CausalLMModel | null> {
  if (name === 'llama-100m') return new LlamaForCausalLM(LLAMA_100M, { rng: new Rng(0) }).eval();
  if (name === 'tiny') {
    if (!existsSync(`${TINY_DIR}/config.json`)) return null;
    return (await loadModel(TINY_DIR)) as CausalLMModel;
  }
  throw new Error(`unknown bench model "${name}" (llama-100m, tiny)`);
}

function countParams(m: CausalLMModel): string {
  const n = m.namedParameters().reduce((a, [, v]) => a + v.size, 0);
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e3).toFixed(0)}K`;
}

async function measure(
  model: CausalLMModel,
  backend: string,
  seq: number,
  newTokens: number,
  vocab: number,
): Promise<Omit<Row, 'model' | 'params'>> {
  const rng = new Rng(1);
  const ids = Array.from({ length: seq }, () => 3 + rng.int(vocab - 3));
  // warm-up: kernels compile / wasm initialises
  tf.tidy(() => model.forward({ inputIds: tf.tensor2d([ids.slice(0, 4)], [1, 4], 'int32') }).logits.dataSync());
  let t0 = performance.now();
  tf.tidy(() => model.forward({ inputIds: tf.tensor2d([ids], [1, seq], 'int32') }).logits.dataSync());
  const forwardS = (performance.now() - t0) / 1000;
  // generation from a short prompt: time per decoded token after the first (prefill) step
  const stamps: number[] = [];
  t0 = performance.now();
  await generate(model, [ids.slice(0, 8)], { maxNewTokens: newTokens + 1, onToken: () => void stamps.push(performance.now()) });
  const decodeS = (stamps[stamps.length - 1] - stamps[0]) / 1000;
  return { backend, prefill: `1×${seq}`, forwardTokS: seq / forwardS, decodeTokS: newTokens / decodeS };
}

async function main(): Promise<void> {
  const backends = env('BENCH_BACKENDS', 'cpu,wasm');
  const models = env('BENCH_MODELS', 'tiny,llama-100m');
  const rows: Row[] = [];
  for (const backend of backends) {
    try {
      // setupBackend: on wasm this package's kernels (GEMM, fused LoRA, shared Identity), not stock tfjs-wasm
      await setupBackend({ prefer: backend as 'wasm' | 'cpu' });
    } catch (e) {
      console.log(`backend ${backend}: unavailable (${(e as Error).message})`);
      continue;
    }
    for (const name of models) {
      const t0 = performance.now();
      const model = await build(name);
      if (!model) {
        console.log(`model ${name}: skipped (no ${TINY_DIR}/config.json yet)`);
        continue;
      }
      const big = name === 'llama-100m';
      const r = await measure(model, backend, big ? (backend === 'cpu' ? 16 : 64) : 128, big ? 4 : 32, model.dims.vocabSize);
      rows.push({ model: name, params: countParams(model), ...r });
      console.log(`  ${name} on ${backend}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      model.dispose();
    }
  }
  const os = await import('node:os');
  console.log(
    `\nnode ${process.version}, ${os.cpus().length} CPU cores, load average ${os.loadavg()[0].toFixed(1)}, tfjs ${tf.version_core}\n`,
  );
  console.log('| model | params | backend | forward (prefill) | forward tok/s | generate tok/s (cached, greedy) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.model} | ${r.params} | ${r.backend} | ${r.prefill} | ${r.forwardTokS.toFixed(1)} | ${r.decodeTokS.toFixed(2)} |`);
  }
}

await main();
