import { PROMPT_LEARNING_FIELDS, defineConfigFields, field, type PeftConfigBase, type PromptLearningFields } from '@peftjs/core';

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

/** The fields of PEFT's `PromptEncoderConfig`: types and PEFT 0.10's defaults. */
export const P_TUNING_FIELDS = defineConfigFields('P-Tuning', 'P_TUNING', {
  ...PROMPT_LEARNING_FIELDS,
  encoder_reparameterization_type: field.oneOf(['MLP', 'LSTM'] as const, 'MLP'),
  encoder_hidden_size: field.positiveInt(null, { nullable: true }),
  encoder_num_layers: field.positiveInt(2),
  encoder_dropout: field.float(0, { min: 0, max: 1, maxOpen: true }),
});

/** PEFT 0.10's defaults. */
export const P_TUNING_DEFAULTS = P_TUNING_FIELDS.defaults;

/** Validates a raw P-Tuning config and fills PEFT's defaults. Errors name the field. */
export function parsePTuningConfig(raw: Record<string, unknown>): PTuningConfig {
  return P_TUNING_FIELDS.parse(raw) as PTuningConfig;
}
