export { promptTuning } from './method.js';
export { PROMPT_TUNING_DEFAULTS, PROMPT_TUNING_FIELDS, parsePromptTuningConfig, promptTuningConfigToJSON } from './config.js';
export type { PromptTuningConfig, PromptTuningInit, PromptTokenizer } from './config.js';
export { PromptEmbeddingHook } from './layer.js';
export { textInitTokenIds, fitToLength } from './init.js';
