// Compiles src/wasm/gemm/wat.ts (all variants) with wabt (an npm devDependency, pinned) and writes
// src/wasm/gemm/binary.ts. `npm run build:gemm -w @peftjs/backend-node`; the test
// test/gemm-build.test.ts rebuilds in memory and fails if the committed binary differs.
import { fileURLToPath } from 'node:url';
import { gemmWat, type GemmVariant } from '../src/wasm/gemm/wat.js';
import { binaryModuleSource, compileVariants, writeWhenRun } from './wasm-module.js';

export const VARIANTS: Record<string, GemmVariant> = {
  simd: { fma: false, shared: false },
  simdShared: { fma: false, shared: true },
  fma: { fma: true, shared: false },
  fmaShared: { fma: true, shared: true },
};

/** Each variant's module, base64. */
export function buildGemmBinaries(): Promise<Record<string, string>> {
  const texts = Object.fromEntries(Object.entries(VARIANTS).map(([name, v]) => [name, gemmWat(v)]));
  return compileVariants('gemm', texts, { simd: true, relaxed_simd: true, threads: true });
}

export function binarySource(bins: Record<string, string>): string {
  return binaryModuleSource(bins, {
    script: 'build-gemm.ts',
    test: 'gemm-build.test.ts',
    doc: 'The GEMM modules, base64: plain SIMD or relaxed-SIMD FMA, plain or shared memory.',
    name: 'GEMM_WASM',
  });
}

export const BINARY_FILE = fileURLToPath(new URL('../src/wasm/gemm/binary.ts', import.meta.url));

writeWhenRun(import.meta.url, BINARY_FILE, async () => binarySource(await buildGemmBinaries()));
