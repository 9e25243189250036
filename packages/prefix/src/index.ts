export { prefixTuning, prefixEncoderOf } from './method.js';
export { PREFIX_TUNING_DEFAULTS, PREFIX_TUNING_FIELDS, parsePrefixTuningConfig, prefixTuningConfigToJSON } from './config.js';
export type { PrefixTuningConfig } from './config.js';
export { PrefixEncoder } from './encoder.js';
export type { PrefixSizes } from './encoder.js';
export { PrefixKVHook } from './layer.js';
export { prefixProjection, layerColumns, layerKeyValue } from './math.js';
