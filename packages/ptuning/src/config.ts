import { PROMPT_LEARNING_DEFAULTS, checkPromptLearningFields, type PeftConfigBase, type PromptLearningFields } from '@peftjs/core';

/** The prompt encoder of P-Tuning v1: an MLP, or a bidirectional LSTM followed by an MLP. */
export type EncoderReparameterizationType = 'MLP' | 'LSTM';

/** PEFT's `PromptEncoderConfig` (P-Tuning), field for field (snake_case, as in `adapter_config.json`). */
export interface PTuningConfig extends PeftConfigBase, PromptLearningFields {
  peft_type: 'P_TUNING';
  task_type: string | null;
  encoder_reparameterization_type: EncoderReparameterizationType;
  /** Hidden size of the encoder; null: token_dim. */
  encoder_hidden_size: number | null;
  /** LSTM layers (PEFT ignores it for MLP, which always has 3 linear layers). */
  encoder_num_layers: number;
  /** Dropout between LSTM layers (training only). */
  encoder_dropout: number;
  inference_mode: boolean;
}

declare module '@peftjs/core' {
  interface PeftConfigRegistry {
    P_TUNING: PTuningConfig;
  }
}

/** PEFT 0.10's defaults. */
export const P_TUNING_DEFAULTS = {
  ...PROMPT_LEARNING_DEFAULTS,
  encoder_reparameterization_type: 'MLP',
  encoder_hidden_size: null,
  encoder_num_layers: 2,
  encoder_dropout: 0,
} as const;

export function pTuningConfigError(field: string, msg: string): never {
  throw new Error(`P-Tuning ${field} ${msg}`);
}
const fail = pTuningConfigError;

/** Validates a raw P-Tuning config and fills PEFT's defaults. Errors name the field. */
export function parsePTuningConfig(raw: Record<string, unknown>): PTuningConfig {
  if (raw.peft_type !== undefined && raw.peft_type !== 'P_TUNING') fail('peft_type', `must be "P_TUNING", got ${JSON.stringify(raw.peft_type)}`);
  const c = { ...P_TUNING_DEFAULTS, ...raw, peft_type: 'P_TUNING' } as unknown as PTuningConfig;
  checkPromptLearningFields(c, fail);
  if (c.encoder_reparameterization_type !== 'MLP' && c.encoder_reparameterization_type !== 'LSTM') {
    fail('encoder_reparameterization_type', `must be "MLP" or "LSTM", got ${JSON.stringify(c.encoder_reparameterization_type)}`);
  }
  const h = c.encoder_hidden_size;
  if (h != null && !(Number.isInteger(h) && h > 0)) fail('encoder_hidden_size', `must be a positive integer or null, got ${JSON.stringify(h)}`);
  if (!(Number.isInteger(c.encoder_num_layers) && c.encoder_num_layers > 0)) {
    fail('encoder_num_layers', `must be a positive integer, got ${JSON.stringify(c.encoder_num_layers)}`);
  }
  if (typeof c.encoder_dropout !== 'number' || !(c.encoder_dropout >= 0 && c.encoder_dropout < 1)) {
    fail('encoder_dropout', `must be a number in [0, 1), got ${JSON.stringify(c.encoder_dropout)}`);
  }
  return c;
}
