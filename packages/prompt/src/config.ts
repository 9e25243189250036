import { PROMPT_LEARNING_FIELDS, defineConfigFields, field, type PeftConfigBase, type PromptLearningFields } from '@peftjs/core';

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

/** The fields of PEFT's `PromptTuningConfig` (and the two runtime-only ones): types and PEFT 0.10's defaults. */
export const PROMPT_TUNING_FIELDS = defineConfigFields('Prompt Tuning', 'PROMPT_TUNING', {
  ...PROMPT_LEARNING_FIELDS,
  prompt_tuning_init: field.oneOf(['RANDOM', 'TEXT', 'SAMPLE_VOCAB'] as const, 'RANDOM'),
  prompt_tuning_init_text: field.string(null, { nullable: true }),
  tokenizer_name_or_path: field.string(null, { nullable: true }),
  tokenizer_kwargs: field.keep<Record<string, unknown> | null>(null),
  tokenizer: field.custom<PromptTokenizer | undefined>(undefined, (v, fail) =>
    v === undefined || typeof (v as PromptTokenizer | null)?.encode === 'function'
      ? (v as PromptTokenizer | undefined)
      : fail('must be an object with encode(text): number[]'),
  ),
  prompt_tuning_init_token_ids: field.custom<readonly number[] | undefined>(undefined, (v, fail) =>
    v === undefined || (Array.isArray(v) && v.length > 0 && v.every((i) => Number.isInteger(i) && i >= 0))
      ? (v as readonly number[] | undefined)
      : fail(`must be a non-empty list of token ids, got ${JSON.stringify(v)}`),
  ),
});

/** PEFT 0.10's defaults. */
export const PROMPT_TUNING_DEFAULTS = PROMPT_TUNING_FIELDS.defaults;

/** Keys we accept in code but never write. */
const RUNTIME_ONLY = ['tokenizer', 'prompt_tuning_init_token_ids'] as const;

/** Validates a raw Prompt Tuning config and fills PEFT's defaults. Errors name the field. */
export function parsePromptTuningConfig(raw: Record<string, unknown>): PromptTuningConfig {
  const fail = PROMPT_TUNING_FIELDS.fail;
  const c = PROMPT_TUNING_FIELDS.parse(raw) as PromptTuningConfig;
  if (c.prompt_tuning_init === 'TEXT') {
    // PEFT refuses these too, also when it loads the file for inference
    if (!c.tokenizer_name_or_path)
      fail('tokenizer_name_or_path', 'must be set when prompt_tuning_init is "TEXT" (PEFT needs it to read the config)');
    if (c.prompt_tuning_init_text == null) fail('prompt_tuning_init_text', 'must be set when prompt_tuning_init is "TEXT"');
  }
  if (c.tokenizer_kwargs && c.prompt_tuning_init !== 'TEXT') fail('tokenizer_kwargs', 'is only valid when prompt_tuning_init is "TEXT"');
  return c;
}

/** The config as PEFT writes it (without the runtime-only `tokenizer`). */
export function promptTuningConfigToJSON(c: PromptTuningConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  for (const k of RUNTIME_ONLY) delete out[k];
  return out;
}
