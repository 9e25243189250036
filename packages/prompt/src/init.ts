import * as tf from '@tensorflow/tfjs-core';
import { LinearLike, embeddingLookup, type InjectionContext } from '@peftjs/core';
import type { PromptTokenizer, PromptTuningConfig } from './config.js';

/**
 * PEFT's `TEXT` init ids: the tokenized text, truncated to `numVirtualTokens` or repeated until it
 * fills them. `tokenizer.encode` must add the special tokens transformers adds by default.
 */
export function textInitTokenIds(tokenizer: PromptTokenizer, text: string, numVirtualTokens: number): number[] {
  return fitToLength(tokenizer.encode(text), numVirtualTokens, 'prompt_tuning_init_text');
}

/** Truncates or repeats ids to exactly `n` (PEFT: `ids * ceil(n / len)` then `[:n]`). */
export function fitToLength(ids: readonly number[], n: number, what = 'ids'): number[] {
  if (ids.length === 0) throw new Error(`Prompt Tuning ${what} gives no tokens`);
  const reps = Math.ceil(n / ids.length);
  return Array.from({ length: reps }, () => ids)
    .flat()
    .slice(0, n);
}

/** The base model's word embedding table [V, D], read at the `inputEmbeddings` site's module. */
export function wordEmbeddings(ctx: InjectionContext, path: string): tf.Variable {
  let m;
  try {
    m = ctx.model.getModule(path);
  } catch {
    m = undefined;
  }
  if (!(m instanceof LinearLike) || m.layout !== 'embedding') {
    throw new Error(`Prompt Tuning: the inputEmbeddings site of model ${ctx.dims.modelType} (${path}) is not an embedding table`);
  }
  return m.weight;
}

/**
 * The initial virtual token embeddings [n, D] for a config. RANDOM: N(0, 1) as torch's
 * `nn.Embedding`; TEXT: word embeddings of the init text's tokens; SAMPLE_VOCAB: word embeddings of
 * uniformly drawn token ids. In inference mode (a saved adapter being loaded) every init is RANDOM,
 * as in PEFT: the weights come from the file.
 */
export function initialPrompts(ctx: InjectionContext, config: PromptTuningConfig, sitePath: string): tf.Tensor {
  const n = config.num_virtual_tokens;
  const D = config.token_dim!;
  if (config.inference_mode || config.prompt_tuning_init === 'RANDOM') return ctx.rng.normalTensor([n, D]);
  const table = wordEmbeddings(ctx, sitePath);
  const V = table.shape[0];
  let ids: number[];
  if (config.prompt_tuning_init === 'SAMPLE_VOCAB') {
    ids = Array.from({ length: n }, () => ctx.rng.int(V));
  } else if (config.prompt_tuning_init_token_ids) {
    ids = fitToLength(config.prompt_tuning_init_token_ids, n, 'prompt_tuning_init_token_ids');
  } else if (config.tokenizer) {
    ids = textInitTokenIds(config.tokenizer, config.prompt_tuning_init_text!, n);
  } else {
    throw new Error(
      'Prompt Tuning prompt_tuning_init "TEXT" needs the tokenizer: pass `tokenizer` (an object with encode(text)) ' +
        'or `prompt_tuning_init_token_ids` (see textInitTokenIds) in the config',
    );
  }
  const bad = ids.filter((i) => i >= V);
  if (bad.length)
    throw new Error(`Prompt Tuning init token ids ${JSON.stringify(bad)} are outside the vocabulary of model ${ctx.dims.modelType} (${V})`);
  return tf.tidy(() => tf.clone(embeddingLookup(table, tf.tensor1d(ids, 'int32'))));
}
