import { vitestConfig } from '../../vitest.shared.ts';

// The browser tests build the page and train in headless Chromium (SwiftShader WebGPU, then wasm).
export default vitestConfig({ testTimeout: 240_000 });
