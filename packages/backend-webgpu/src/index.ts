export { setupWebGPU, LIMIT_NAMES } from './setup.js';
export { releaseWebGPU } from './release.js';
export type { AdapterDescription, BackendInfo, LimitName, Limits, SetupOptions } from './setup.js';
export { WebGPUError, guardDevice } from './guard.js';
export type { DeviceGuard, WebGPUErrorKind } from './guard.js';
export { ensureGradients } from './gradients.js';
export { registerWebGPUKernels } from './kernels/register.js';
