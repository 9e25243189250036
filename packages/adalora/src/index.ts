export { adalora, updateAndAllocate, orthogonalRegularization, rankAllocator, adaLoraModules } from './method.js';
export { ADALORA_DEFAULTS, ADALORA_FIELDS, ADALORA_FLOAT_FIELDS, parseAdaLoraConfig, adaLoraConfigToJSON, rankMask } from './config.js';
export type { AdaLoraConfig, RankPattern } from './config.js';
export { AdaLoraHook } from './layer.js';
export type { AdaLoraLayerOptions } from './layer.js';
export { RankAllocator } from './allocator.js';
export type { AllocationResult, AllocatorModule, ModuleGradients } from './allocator.js';
export { adaLoraScale, adaLoraDelta, adaLoraPath, orthogonalityGap, budgetSchedule, kthSmallest } from './math.js';
export { adaLoraState, loadAdaLoraState } from './state.js';
