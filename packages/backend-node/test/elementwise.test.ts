import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ELEMENTWISE_BINARY_FILE, buildElementwiseBinaries, elementwiseBinarySource } from '../scripts/build-elementwise.js';
import { elementwiseFor } from '../src/wasm/elementwise/module.js';

describe('the elementwise SIMD module (SwiGLU)', () => {
  it('the committed binary is what wat.ts compiles to (npm run build:elementwise)', async () => {
    expect(fs.readFileSync(ELEMENTWISE_BINARY_FILE, 'utf8')).toBe(elementwiseBinarySource(await buildElementwiseBinaries()));
  });

  it('matches float64 references from −100 to 100 (eˣ clamped at both ends), on plain and shared memory', () => {
    for (const shared of [false, true]) {
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared });
      const ew = elementwiseFor(memory);
      const n = 804;
      const f = new Float32Array(memory.buffer);
      const [g, u, dy, out] = [0, n, 2 * n, 3 * n];
      for (let i = 0; i < n; i++) {
        f[g + i] = -100 + (200 * i) / (n - 1);
        f[u + i] = Math.cos(i);
        f[dy + i] = Math.sin(i * 0.3);
      }
      const sig = (x: number) => 1 / (1 + Math.exp(-x));
      const check = (want: (i: number) => number) => {
        for (let i = 0; i < n; i++) expect(Math.abs(f[out + i]! - want(i))).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want(i))));
      };
      ew.swiglu(4 * g, 4 * u, 4 * out, 4 * n);
      check((i) => f[g + i]! * sig(f[g + i]!) * f[u + i]!);
      ew.swiglu_dup(4 * dy, 4 * g, 4 * out, 4 * n);
      check((i) => f[dy + i]! * f[g + i]! * sig(f[g + i]!));
      ew.swiglu_dgate(4 * dy, 4 * g, 4 * u, 4 * out, 4 * n);
      check((i) => {
        const s = sig(f[g + i]!);
        return f[dy + i]! * f[u + i]! * s * (1 + f[g + i]! * (1 - s));
      });
    }
  });
});
