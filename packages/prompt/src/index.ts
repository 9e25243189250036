export { promptTuning, PROMPT_EMBEDDINGS } from './method.js';
export { PROMPT_TUNING_DEFAULTS, parsePromptTuningConfig, promptTuningConfigToJSON } from './config.js';
export type { PromptTuningConfig, PromptTuningInit, PromptTokenizer } from './config.js';
export { PromptEmbeddingHook } from './layer.js';
export { prependVirtualTokens } from '@peftjs/core';
export { textInitTokenIds, fitToLength } from './init.js';
export type { PromptLearningFields } from '@peftjs/core';
