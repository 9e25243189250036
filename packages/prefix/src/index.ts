export { prefixTuning, prefixEncoderOf, PROMPT_EMBEDDINGS, ENCODER_FILE } from './method.js';
export { PREFIX_TUNING_DEFAULTS, parsePrefixTuningConfig, prefixTuningConfigToJSON } from './config.js';
export type { PrefixTuningConfig } from './config.js';
export { PrefixEncoder } from './encoder.js';
export type { PrefixSizes } from './encoder.js';
export { PrefixKVHook } from './layer.js';
export { prefixProjection, layerColumns, layerKeyValue } from './math.js';
export type { PromptLearningFields } from '@peftjs/core';
