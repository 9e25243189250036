// Peak memory of loadModel on a SmolLM-135M-shaped folder (F32 on disk).
//   npm run bench:load -w @peftjs/models
// Writes the folder once under the OS temp dir, then loads it in a fresh process and reports
// the peak resident memory above the process's baseline, as a multiple of the F32 weights.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SMALL = process.env.LOADMEM_SIZE === 'small';
const DIR = process.env.LOADMEM_DIR ?? join(tmpdir(), SMALL ? 'peftjs-bench-llama-small' : 'peftjs-bench-smollm135m');
const SMOLLM_135M = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  vocab_size: 49152,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
};
/** ~30M parameters, for the test that runs this script. */
const LLAMA_SMALL = {
  ...SMOLLM_135M,
  hidden_size: 512,
  intermediate_size: 1024,
  num_hidden_layers: 6,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 32000,
};
const CONFIG = SMALL ? LLAMA_SMALL : SMOLLM_135M;

async function make(): Promise<void> {
  await import('@tensorflow/tfjs');
  const { writeSafetensorsFile } = await import('@peftjs/core/io');
  const { LlamaForCausalLM, SkipInitRng } = await import('../src/index.js');
  // the values do not matter for memory: zeros write fast
  const model = new LlamaForCausalLM(CONFIG, { rng: new SkipInitRng(0) });
  mkdirSync(DIR, { recursive: true });
  await writeSafetensorsFile(join(DIR, 'model.safetensors'), Object.fromEntries(model.namedParameters()));
  writeFileSync(join(DIR, 'config.json'), JSON.stringify(CONFIG, null, 2));
}

async function load(): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { loadModel } = await import('../src/index.js');
  const baseline = process.memoryUsage().rss;
  const t0 = performance.now();
  const model = await loadModel(DIR);
  const seconds = (performance.now() - t0) / 1000;
  const peak = process.resourceUsage().maxRSS * 1024;
  const params = model.namedParameters().reduce((a, [, v]) => a + v.size, 0);
  console.log(JSON.stringify({ baseline, peak, params, seconds, tensors: tf.memory().numTensors }));
}

const mode = process.argv[2];
if (mode === 'make') await make();
else if (mode === 'load') await load();
else {
  const self = fileURLToPath(import.meta.url);
  const run = (m: string) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=@peftjs/source', self, m], {
      encoding: 'utf8',
      env: process.env,
    });
    if (r.status !== 0) throw new Error(`${m} failed: ${r.stderr}`);
    return r.stdout;
  };
  if (!existsSync(join(DIR, 'model.safetensors'))) {
    console.log(`writing ${DIR} (${SMALL ? 'small LLaMA' : 'SmolLM-135M'} shape, F32)…`);
    run('make');
  }
  const line = run('load').trim().split('\n').pop()!;
  const { baseline, peak, params, seconds } = JSON.parse(line) as { baseline: number; peak: number; params: number; seconds: number };
  const f32 = params * 4;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(`parameters ${(params / 1e6).toFixed(1)}M, F32 size ${mb(f32)}, file ${mb(statSync(join(DIR, 'model.safetensors')).size)}`);
  console.log(
    `load ${seconds.toFixed(1)} s; peak RSS ${mb(peak)} = baseline ${mb(baseline)} + ${mb(peak - baseline)} (${((peak - baseline) / f32).toFixed(2)}× F32 size)`,
  );
  console.log(JSON.stringify({ params, f32, baseline, peak, ratio: (peak - baseline) / f32, seconds }));
}
