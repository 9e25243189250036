import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, entryToTensor, parseSafetensors, type ModelOutput, type PeftModel } from '@peftjs/core';
import { LlamaForCausalLM, type ModelBatch } from '@peftjs/models';
import type { TestModelSpec } from '@peftjs/testing';

const here = dirname(fileURLToPath(import.meta.url));
/** `$PEFTJS_FIXTURES`, default `<repo>/../shared/fixtures`. */
export const FIXTURES = resolve(process.env.PEFTJS_FIXTURES ?? join(here, '../../../../shared/fixtures'));
export const hasFixtures = existsSync(join(FIXTURES, 'index.json'));

export function readTensors(file: string): Map<string, tf.Tensor> {
  const parsed = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  return new Map([...parsed.tensors].map(([name, e]) => [name, entryToTensor(e, file)]));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shape [${a.shape}] vs [${b.shape}]`);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** A small GQA LLaMA (2 layers, 4 heads, 2 KV heads) with seeded random weights. */
export const TINY_LLAMA_CONFIG = {
  model_type: 'llama',
  vocab_size: 64,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  initializer_range: 0.2,
};

export function tinyLlama(seed = 0, config: Record<string, unknown> = TINY_LLAMA_CONFIG): LlamaForCausalLM {
  return new LlamaForCausalLM(config, { rng: new Rng(seed) }).eval();
}

/** The tiny LLaMA as a conformance-kit model: random ids, labels = ids (causal LM), row 0's last position padded. */
export const tinyLlamaSpec: TestModelSpec<ModelBatch> = {
  name: 'tiny-llama (GQA)',
  create: (seed) => tinyLlama(seed),
  batch: (_model, opts) => {
    const rng = new Rng(opts.seed ?? 1);
    const B = opts.batchSize ?? 3;
    const T = 6;
    const ids = Array.from({ length: B * T }, () => rng.int(64));
    const mask = ids.map((_, i) => (i === T - 1 ? 0 : 1));
    const batch: ModelBatch = { inputIds: tf.tensor2d(ids, [B, T], 'int32'), attentionMask: tf.tensor2d(mask, [B, T], 'int32') };
    if (opts.labels ?? true) batch.labels = tf.tensor2d(ids.map((id, i) => (mask[i] ? id : -100)), [B, T], 'int32');
    return batch;
  },
};

/**
 * A small language task a frozen model can only learn through its adapter: sequences whose tokens
 * are drawn from 8 of the vocabulary's ids. Held-out batches use another seed.
 */
export function subsetTask(seed: number, B = 16, T = 8, vocab = 128): ModelBatch {
  const rng = new Rng(seed);
  const ids = Array.from({ length: B * T }, () => 40 + rng.int(8)).map((x) => x % vocab);
  const inputIds = tf.tensor2d(ids, [B, T], 'int32');
  return { inputIds, attentionMask: tf.ones([B, T], 'int32'), labels: inputIds };
}

export function lossOf(peft: PeftModel<ModelBatch, ModelOutput>, batch: ModelBatch): number {
  return tf.tidy(() => peft.forward(batch).loss!.dataSync()[0]);
}

export function disposeBatch(b: ModelBatch): void {
  tf.dispose([b.inputIds, b.attentionMask ?? [], b.labels ?? []].flat());
}

/** Adam steps cycling over `batches` (the trainable parameters of the active adapters); returns the losses. */
export function trainOn(peft: PeftModel<ModelBatch, ModelOutput>, batches: ModelBatch[], steps: number, learningRate: number): number[] {
  const optimizer = tf.train.adam(learningRate);
  const vars = peft.trainableParameters().map(([, v]) => v);
  const losses: number[] = [];
  peft.train();
  try {
    for (let i = 0; i < steps; i++) {
      const cost = optimizer.minimize(() => peft.forward(batches[i % batches.length]).loss as tf.Scalar, true, vars)!;
      losses.push(cost.dataSync()[0]);
      cost.dispose();
    }
  } finally {
    peft.eval();
    optimizer.dispose();
  }
  return losses;
}

/**
 * A copy of a PEFT fixture folder plus our encoder file built from PEFT's `trainable_state`
 * (`prompt_encoder.default.<name>` → `<name>`): what we would have saved for the same adapter.
 */
export async function withEncoderFile(caseDir: string, out: string, encoderFile: string): Promise<void> {
  const { copyFile, mkdir, writeFile } = await import('node:fs/promises');
  const { serializeSafetensors } = await import('@peftjs/core');
  await mkdir(out, { recursive: true });
  for (const f of ['adapter_config.json', 'adapter_model.safetensors']) await copyFile(join(caseDir, f), join(out, f));
  const state = readTensors(join(caseDir, 'trainable_state.safetensors'));
  const encoder = new Map<string, tf.Tensor>();
  for (const [k, v] of state) if (k.startsWith('prompt_encoder.default.')) encoder.set(k.slice('prompt_encoder.default.'.length), v);
  await writeFile(join(out, encoderFile), serializeSafetensors(encoder, { metadata: { format: 'pt' } }));
  tf.dispose([...state.values()]);
}
