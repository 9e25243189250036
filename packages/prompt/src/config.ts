import { PROMPT_LEARNING_DEFAULTS, checkPromptLearningFields, type PeftConfigBase, type PromptLearningFields } from '@peftjs/core';

/**
 * How the virtual tokens start: `RANDOM` (N(0, 1), torch's `nn.Embedding`), `TEXT` (the word
 * embeddings of `prompt_tuning_init_text`, tokenized), `SAMPLE_VOCAB` (word embeddings of tokens
 * drawn uniformly from the vocabulary; newer PEFT, which PEFT 0.10 cannot read).
 */
export type PromptTuningInit = 'RANDOM' | 'TEXT' | 'SAMPLE_VOCAB';

/** What `TEXT` init needs of a tokenizer: `@peftjs/models`' `PretrainedTokenizer` is one. */
export interface PromptTokenizer {
  /** Token ids of a text, with the special tokens transformers adds by default (PEFT calls `tokenizer(text)`). */
  encode(text: string): number[];
}

/** PEFT's `PromptTuningConfig`, field for field, plus the non-serialised `tokenizer`. */
export interface PromptTuningConfig extends PeftConfigBase, PromptLearningFields {
  peft_type: 'PROMPT_TUNING';
  task_type: string | null;
  prompt_tuning_init: PromptTuningInit;
  prompt_tuning_init_text: string | null;
  tokenizer_name_or_path: string | null;
  tokenizer_kwargs: Record<string, unknown> | null;
  inference_mode: boolean;
  /**
   * Used by `TEXT` init only, and never written to adapter_config.json: the tokenizer Python
   * would load from `tokenizer_name_or_path`. Without it, pass the ids computed by
   * `textInitTokenIds` as `prompt_tuning_init_token_ids` instead.
   */
  tokenizer?: PromptTokenizer;
  /** Non-serialised alternative to `tokenizer`: the token ids of the init text. */
  prompt_tuning_init_token_ids?: readonly number[];
}

declare module '@peftjs/core' {
  interface PeftConfigRegistry {
    PROMPT_TUNING: PromptTuningConfig;
  }
}

/** PEFT 0.10's defaults. */
export const PROMPT_TUNING_DEFAULTS = {
  ...PROMPT_LEARNING_DEFAULTS,
  prompt_tuning_init: 'RANDOM',
  prompt_tuning_init_text: null,
  tokenizer_name_or_path: null,
  tokenizer_kwargs: null,
} as const;

/** Keys we accept in code but never write. */
const RUNTIME_ONLY = ['tokenizer', 'prompt_tuning_init_token_ids'] as const;

function fail(field: string, msg: string): never {
  throw new Error(`Prompt Tuning ${field} ${msg}`);
}

/** Validates a raw Prompt Tuning config and fills PEFT's defaults. Errors name the field. */
export function parsePromptTuningConfig(raw: Record<string, unknown>): PromptTuningConfig {
  if (raw.peft_type !== undefined && raw.peft_type !== 'PROMPT_TUNING') fail('peft_type', `must be "PROMPT_TUNING", got ${JSON.stringify(raw.peft_type)}`);
  const c = { ...PROMPT_TUNING_DEFAULTS, ...raw, peft_type: 'PROMPT_TUNING' } as unknown as PromptTuningConfig;
  checkPromptLearningFields(c, fail);
  if (!['RANDOM', 'TEXT', 'SAMPLE_VOCAB'].includes(c.prompt_tuning_init)) {
    fail('prompt_tuning_init', `must be "RANDOM", "TEXT" or "SAMPLE_VOCAB", got ${JSON.stringify(c.prompt_tuning_init)}`);
  }
  if (c.prompt_tuning_init_text != null && typeof c.prompt_tuning_init_text !== 'string') {
    fail('prompt_tuning_init_text', `must be a string or null, got ${JSON.stringify(c.prompt_tuning_init_text)}`);
  }
  if (c.prompt_tuning_init === 'TEXT') {
    // PEFT refuses these too, also when it loads the file for inference
    if (!c.tokenizer_name_or_path) fail('tokenizer_name_or_path', 'must be set when prompt_tuning_init is "TEXT" (PEFT needs it to read the config)');
    if (c.prompt_tuning_init_text == null) fail('prompt_tuning_init_text', 'must be set when prompt_tuning_init is "TEXT"');
  }
  if (c.tokenizer_kwargs && c.prompt_tuning_init !== 'TEXT') fail('tokenizer_kwargs', 'is only valid when prompt_tuning_init is "TEXT"');
  if (c.tokenizer !== undefined && typeof (c.tokenizer as PromptTokenizer)?.encode !== 'function') {
    fail('tokenizer', 'must be an object with encode(text): number[]');
  }
  const ids = c.prompt_tuning_init_token_ids;
  if (ids !== undefined && !(Array.isArray(ids) && ids.length > 0 && ids.every((i) => Number.isInteger(i) && i >= 0))) {
    fail('prompt_tuning_init_token_ids', `must be a non-empty list of token ids, got ${JSON.stringify(ids)}`);
  }
  return c;
}

/** The config as PEFT writes it (without the runtime-only `tokenizer`). */
export function promptTuningConfigToJSON(c: PromptTuningConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  for (const k of RUNTIME_ONLY) delete out[k];
  return out;
}
