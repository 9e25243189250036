// The LoRA training step of PERFORMANCE.md's reference shape, through the whole peftjs stack
// (LlamaForCausalLM from @peftjs/models, LoRA r=8 on q,v, @peftjs/train's Trainer with AdamW),
// on each backend present. PyTorch's figure on this machine class: 78 ms (PERFORMANCE.md).
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@peftjs/backend-node';
import { PeftModel, PeftRegistry, Rng } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { modelFromConfig } from '@peftjs/models';
import { Trainer, type EncodedExample } from '@peftjs/train';

const SHAPE = { vocab: 512, hidden: 256, layers: 4, heads: 4, ffn: 1024, seq: 64, batch: 8 };
const PYTORCH_LORA_MS = 78;
const STEPS = Number(process.env.BENCH_STEPS ?? 6);

function model() {
  return modelFromConfig(
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
}

function data(): EncodedExample[] {
  const rng = new Rng(2);
  return Array.from({ length: SHAPE.batch * (STEPS + 1) }, () => {
    const ids = Array.from({ length: SHAPE.seq }, () => rng.int(SHAPE.vocab));
    return { inputIds: ids, labels: ids };
  });
}

async function measure(backend: 'wasm' | 'cpu'): Promise<{ median: number; params: number; leak: number } | string> {
  try {
    await setupBackend({ prefer: backend });
  } catch (e) {
    return (e as Error).message;
  }
  const base = model();
  const peft = new PeftModel(base as never, { registry: new PeftRegistry().use(lora) });
  peft.addAdapter('default', { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
  const times: number[] = [];
  let last = performance.now();
  let n0 = 0;
  const steps = backend === 'cpu' ? 2 : STEPS;
  const trainer = new Trainer({
    model: peft as never,
    trainData: data(),
    batchSize: SHAPE.batch,
    maxSteps: steps + 1,
    learningRate: 1e-3,
    schedule: 'constant',
    onEvent: (e) => {
      if (e.type !== 'step') return;
      const now = performance.now();
      if (e.step === 1) n0 = tf.memory().numTensors;
      else times.push(now - last);
      last = now;
    },
  });
  await trainer.train();
  const leak = tf.memory().numTensors - n0;
  trainer.dispose();
  peft.dispose();
  base.dispose();
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], params: peft.countParameters().trainable, leak };
}

const rows: string[] = [];
for (const b of ['wasm', 'cpu'] as const) {
  const r = await measure(b);
  if (typeof r === 'string') rows.push(`| ${b} | – | – | – | ${r} |`);
  else rows.push(`| ${b} | ${r.median.toFixed(0)} ms | ${(r.median / PYTORCH_LORA_MS).toFixed(1)}× | ${r.leak} | |`);
}
console.log(
  `\nLoRA step, PERFORMANCE.md shape (vocab ${SHAPE.vocab}, hidden ${SHAPE.hidden}, ${SHAPE.layers} layers, ${SHAPE.heads} heads, FFN ${SHAPE.ffn}, batch ${SHAPE.batch}×${SHAPE.seq}), r=8 on q,v, AdamW, median of ${STEPS} steps`,
);
console.log('| backend | step | vs PyTorch 78 ms | tensors gained after step 1 | note |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
