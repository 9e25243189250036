export { bottleneckAdapter, adapterHubPrefix, NOT_MERGEABLE } from './method.js';
export {
  BOTTLENECK_ADAPTER,
  BOTTLENECK_PRESETS,
  BOTTLENECK_FIELDS,
  BOTTLENECK_FLOAT_FIELDS,
  parseBottleneckConfig,
  bottleneckConfigToJSON,
  bottleneckSize,
} from './config.js';
export type { BottleneckConfig, BottleneckInit, NonLinearity } from './config.js';
export { BottleneckAdapter } from './layer.js';
export type { BottleneckAdapterOptions } from './layer.js';
export { nonLinearity, dense, layerNorm, bottleneck } from './math.js';
