/** Registers this package's WGSL kernels for core's Peft ops on 'webgpu'. */
export function registerWebGPUKernels(): void {}
