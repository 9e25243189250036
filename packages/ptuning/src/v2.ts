import * as tf from '@tensorflow/tfjs-core';
import { getGlobalRng, type PeftModel, type Rng } from '@peftjs/core';

export interface PTuningV2Options {
  /** Prompt length at every layer. */
  numVirtualTokens: number;
  /** `SEQ_CLS` (sequence classification), `TOKEN_CLS` (sequence tagging) or `CAUSAL_LM`. Default SEQ_CLS. */
  taskType?: 'SEQ_CLS' | 'TOKEN_CLS' | 'CAUSAL_LM';
  /**
   * Reparameterise the deep prompts with an MLP (Embedding → Linear → Tanh → Linear). Off by
   * default, as in P-Tuning v2, whose ablation finds it helps on some tasks only.
   */
  reparameterize?: boolean;
  /** Hidden size of that MLP (default: the model's hidden size). */
  encoderHiddenSize?: number;
  /** Any other PEFT field (`base_model_name_or_path`, …). */
  extra?: Record<string, unknown>;
}

/**
 * P-Tuning v2 (Liu et al., 2022, deep prompt tuning) as PEFT runs it: prompts at every layer are
 * prefix tuning, and PEFT saves them as `PREFIX_TUNING`. This builds that config; the method that
 * runs it is `@peftjs/prefix` (register it), so that v2 files are the ones PEFT reads and writes.
 * With `SEQ_CLS`/`TOKEN_CLS` the model's `classifier` trains beside the prompts (PEFT's implicit
 * `modules_to_save`); give it a fresh head with `initClassificationHead`.
 */
export function pTuningV2Config(opts: PTuningV2Options): Record<string, unknown> {
  const n = opts.numVirtualTokens;
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`P-Tuning v2 numVirtualTokens must be a positive integer, got ${JSON.stringify(n)}`);
  return {
    ...opts.extra,
    peft_type: 'PREFIX_TUNING',
    task_type: opts.taskType ?? 'SEQ_CLS',
    num_virtual_tokens: n,
    prefix_projection: opts.reparameterize ?? false,
    encoder_hidden_size: opts.encoderHiddenSize ?? null,
  };
}

/**
 * Re-initialises the classification head an adapter trains (its `modules_to_save` copy of
 * `classifier` or `score`): weights N(0, std²), biases 0, as transformers initialises a new head.
 * P-Tuning v2 puts such a randomly initialised linear head on the encoder instead of a verbalizer.
 * Throws when the adapter trains no head (its task_type is not SEQ_CLS / TOKEN_CLS).
 */
export function initClassificationHead<I, O>(peft: PeftModel<I, O>, adapterName = 'default', opts: { std?: number; rng?: Rng } = {}): void {
  const record = peft.adapter(adapterName);
  const std = opts.std ?? 0.02;
  const rng = opts.rng ?? getGlobalRng();
  const heads = [...record.savedModules].filter(([path]) => /(^|\.)(classifier|score)$/.test(path));
  if (heads.length === 0) {
    throw new Error(
      `initClassificationHead: adapter "${adapterName}" trains no classifier (task_type ${JSON.stringify(record.config.task_type)}; use SEQ_CLS or TOKEN_CLS)`,
    );
  }
  for (const [, params] of heads) {
    for (const [name, v] of params) {
      const t = name.endsWith('bias') ? tf.zeros(v.shape) : rng.normalTensor([...v.shape], 0, std);
      v.assign(t);
      t.dispose();
    }
  }
}
