import { mergeConfig } from 'vitest/config';
import { vitestConfig } from '../../vitest.shared.ts';

const base = vitestConfig({ testTimeout: 120_000 });

/**
 * `PEFTJS_BACKEND=webgpu`: the same cases on WebGPU (SwiftShader compiles each shader slowly);
 * `PEFTJS_BACKEND=wasm`: on wasm with peftjs' kernels.
 */
export default process.env.PEFTJS_BACKEND === 'webgpu'
  ? mergeConfig(base, { test: { setupFiles: [new URL('./test/webgpu-setup.ts', import.meta.url).pathname], testTimeout: 600_000 } })
  : process.env.PEFTJS_BACKEND === 'wasm'
    ? mergeConfig(base, { test: { setupFiles: [new URL('./test/wasm-setup.ts', import.meta.url).pathname] } })
    : base;
