import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  PeftModel,
  PeftRegistry,
  Rng,
  loadAdapter,
  readAdapterConfig,
  type ModelOutput,
  type PeftConfigBase,
  type PeftMethod,
} from '@peftjs/core';
import { decodeTensors, serializeSafetensors } from '@peftjs/core/io';
import { LlamaForCausalLM, loadModel, type ModelBatch } from '@peftjs/models';
import { maxAbsDiff, trainSteps } from './helpers.js';
import { TINY_LLAMA_CONFIG } from './tiny-llama.js';

export { TINY_LLAMA_CONFIG };
import type { TestModelSpec } from './models/index.js';

/**
 * Node-only helpers for tests against the PEFT fixtures (`@peftjs/testing/fixtures`) and on
 * `@peftjs/models`' models. Separate from the kit's main entry, which needs neither.
 */

const here = dirname(fileURLToPath(import.meta.url));
/** `$PEFTJS_FIXTURES`, default `<repo>/../shared/fixtures`. */
export const FIXTURES = resolve(process.env.PEFTJS_FIXTURES ?? join(here, '../../../../shared/fixtures'));
/** Whether the fixtures are there (their `index.json`); `describe.skipIf(!hasFixtures)` otherwise. */
export const hasFixtures = existsSync(join(FIXTURES, 'index.json'));

/** The tensors of a safetensors file, by name; they are the caller's to dispose. */
export function readTensors(file: string): Map<string, tf.Tensor> {
  return decodeTensors(new Uint8Array(readFileSync(file)), file);
}

/**
 * A fixture case's adapter loaded into the case's base model (`base_model_name_or_path`, relative
 * to `FIXTURES`) with `method`, and the case's `io.safetensors` (PEFT's `input_ids`,
 * `attention_mask`, `logits_peft`, …). The adapter is read from `opts.adapterDir` (default: the
 * case's folder). Dispose the model and the tensors.
 */
export async function loadFixtureCase<C extends PeftConfigBase>(
  caseDir: string,
  method: PeftMethod<C>,
  opts: { adapterDir?: string; trainable?: boolean } = {},
): Promise<{ peft: PeftModel<ModelBatch, ModelOutput>; io: Map<string, tf.Tensor> }> {
  const adapterDir = opts.adapterDir ?? caseDir;
  const config = await readAdapterConfig(adapterDir);
  const base = await loadModel(join(FIXTURES, String(config.base_model_name_or_path)));
  const peft = new PeftModel(base, { registry: new PeftRegistry().use(method) });
  await loadAdapter(peft, adapterDir, 'default', { trainable: opts.trainable ?? false });
  return { peft, io: readTensors(join(caseDir, 'io.safetensors')) };
}

/** Largest |logits − PEFT's logits| of a model on a fixture's inputs (`input_ids`, `attention_mask`, `logits_peft` of its `io`). */
export function fixtureLogitsDiff(peft: PeftModel<ModelBatch, ModelOutput>, io: ReadonlyMap<string, tf.Tensor>): number {
  const logits = tf.tidy(() => peft.forward({ inputIds: io.get('input_ids')!, attentionMask: io.get('attention_mask')! }).logits);
  try {
    return maxAbsDiff(logits, io.get('logits_peft')!);
  } finally {
    logits.dispose();
  }
}

/** Largest difference between two models' logits on the same token ids (default one row, [[1, 2, 3]]). */
export function logitsDiff(
  a: PeftModel<ModelBatch, ModelOutput>,
  b: PeftModel<ModelBatch, ModelOutput>,
  ids: number[][] = [[1, 2, 3]],
): number {
  const inputIds = tf.tensor2d(ids, [ids.length, ids[0].length], 'int32');
  const [x, y] = [a, b].map((m) => tf.tidy(() => m.forward({ inputIds }).logits));
  try {
    return maxAbsDiff(x, y);
  } finally {
    tf.dispose([inputIds, x, y]);
  }
}

/**
 * A copy of a PEFT fixture folder's adapter into `out`, plus an extra safetensors `file` made of
 * the tensors of its `trainable_state` whose names start with `statePrefix` (prefix removed):
 * what a method that saves more than PEFT would have written for the same adapter.
 */
export async function copyFixtureWithStateFile(caseDir: string, out: string, file: string, statePrefix: string): Promise<void> {
  await mkdir(out, { recursive: true });
  for (const f of [ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME]) await copyFile(join(caseDir, f), join(out, f));
  const state = readTensors(join(caseDir, 'trainable_state.safetensors'));
  const extra = new Map<string, tf.Tensor>();
  for (const [k, v] of state) if (k.startsWith(statePrefix)) extra.set(k.slice(statePrefix.length), v);
  await writeFile(join(out, file), serializeSafetensors(extra, { metadata: { format: 'pt' } }));
  tf.dispose([...state.values()]);
}

/** The tiny LLaMA with seeded random weights, in eval mode. */
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
    if (opts.labels ?? true)
      batch.labels = tf.tensor2d(
        ids.map((id, i) => (mask[i] ? id : -100)),
        [B, T],
        'int32',
      );
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

/** Adam steps (lr 0.01) on one small `subsetTask` batch for the tiny LLaMA (B 4, T 5, vocabulary 64); returns the losses. */
export function trainTinySubsetTask(peft: PeftModel<ModelBatch, ModelOutput>, opts: { seed: number; steps: number }): number[] {
  const batch = subsetTask(opts.seed, 4, 5, 64);
  try {
    return trainSteps(peft, batch, { steps: opts.steps, learningRate: 0.01 });
  } finally {
    disposeBatch(batch);
  }
}

/** The loss of one forward pass. */
export function lossOf(peft: PeftModel<ModelBatch, ModelOutput>, batch: ModelBatch): number {
  return tf.tidy(() => peft.forward(batch).loss!.dataSync()[0]);
}

/** Disposes a batch's ids, mask and labels. */
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

export { recomputationModel, recomputationBatch, describeRecomputation } from './recompute-models.js';
export type { RecomputationArch, RecomputationArchCase } from './recompute-models.js';
