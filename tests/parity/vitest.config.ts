import { mergeConfig } from 'vitest/config';
import { vitestConfig } from '../../vitest.shared.ts';

const base = vitestConfig({ testTimeout: 120_000 });

/** `PEFTJS_BACKEND=webgpu`: the same cases on WebGPU (SwiftShader compiles each shader slowly). */
export default process.env.PEFTJS_BACKEND === 'webgpu'
  ? mergeConfig(base, { test: { setupFiles: [new URL('./test/webgpu-setup.ts', import.meta.url).pathname], testTimeout: 600_000 } })
  : base;
