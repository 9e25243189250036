export { lora } from './method.js';
export { LORA_DEFAULTS, LORA_FIELDS, parseLoraConfig, loraConfigToJSON, rankAndAlpha } from './config.js';
export type { LoraConfig, LoraBias, LoraInit } from './config.js';
export { LoraHook } from './layer.js';
export type { LoraLayerOptions } from './layer.js';
export { loraScaling, loraDelta, loraEmbeddingDelta, loraPath, loraEmbeddingPath } from './math.js';
export { addWeightedAdapter } from './weighted.js';
export type { CombinationType } from './weighted.js';
