// Compiles src/wasm/elementwise/wat.ts (plain and shared memory) with wabt (the pinned npm
// devDependency) and writes src/wasm/elementwise/binary.ts. `npm run build:elementwise -w
// @peftjs/backend-node`; test/elementwise.test.ts rebuilds in memory and fails if the committed binary differs.
import { fileURLToPath } from 'node:url';
import { elementwiseWat } from '../src/wasm/elementwise/wat.js';
import { binaryModuleSource, compileVariants, writeWhenRun } from './wasm-module.js';

/** The plain- and shared-memory modules, base64. */
export function buildElementwiseBinaries(): Promise<Record<string, string>> {
  const texts = { plain: elementwiseWat({ shared: false }), shared: elementwiseWat({ shared: true }) };
  return compileVariants('elementwise', texts, { simd: true, threads: true });
}

export function elementwiseBinarySource(bins: Record<string, string>): string {
  return binaryModuleSource(bins, {
    script: 'build-elementwise.ts',
    test: 'elementwise.test.ts',
    doc: 'The elementwise SIMD module, base64: plain or shared memory.',
    name: 'ELEMENTWISE_WASM',
  });
}

export const ELEMENTWISE_BINARY_FILE = fileURLToPath(new URL('../src/wasm/elementwise/binary.ts', import.meta.url));

writeWhenRun(import.meta.url, ELEMENTWISE_BINARY_FILE, async () => elementwiseBinarySource(await buildElementwiseBinaries()));
