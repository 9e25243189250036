import type * as tf from '@tensorflow/tfjs-core';
import type { PeftKernelArgs, RotaryAttrs } from '@peftjs/core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { elementwiseFor } from './elementwise/module.js';
import { broadcastRows, heapF32, heapMemory, sameShape } from './rows.js';

/**
 * `PeftRotary` on wasm: one pass per row of d values (SIMD rows when d/2 is a multiple of 4),
 * cos/sin rows broadcast (over heads).
 * Forward: [x1·c1 − x2·s1, x2·c2 + x1·s2]; transposed: [x1·c1 + x2·s2, x2·c2 − x1·s1].
 */
export function wasmRotary({ inputs, attrs, backend: b }: PeftKernelArgs<'x' | 'cos' | 'sin', RotaryAttrs>): tf.TensorInfo {
  const backend = b as unknown as WasmHeapBackend;
  const { x, cos, sin } = inputs;
  sameShape('PeftRotary cos and sin', cos, sin);
  const d = x.shape[x.shape.length - 1]!;
  if (d % 2 !== 0 || cos.shape[cos.shape.length - 1] !== d || cos.shape.length > x.shape.length) {
    throw new Error(`PeftRotary: cos/sin [${cos.shape}] do not broadcast to x [${x.shape}] along an even last axis`);
  }
  const cRows = broadcastRows(x.shape.slice(0, -1), cos.shape.slice(0, -1));
  const out = backend.makeOutput([...x.shape], 'float32');
  const h = d / 2;
  if (h % 4 === 0) {
    const row = elementwiseFor(heapMemory(backend, 'PeftRotary')).rotary_row;
    const [px, pc, ps, py] = [x, cos, sin, out].map((t) => ptrOf(backend, t)) as [number, number, number, number];
    // forward: sa = s1, sb = s2; transposed: sa = s2, sb = s1 (the function reads sb's second half)
    const [da, db, sign] = attrs.transpose ? [4 * h, -4 * h, -1] : [0, 0, 1];
    for (let r = 0; r < cRows.length; r++) {
      const c = 4 * cRows[r]! * d;
      row(px + 4 * r * d, pc + c, ps + c + da, ps + c + db, py + 4 * r * d, 4 * h, sign);
    }
    return out;
  }
  const X = heapF32(backend, x, 'PeftRotary');
  const C = heapF32(backend, cos, 'PeftRotary');
  const S = heapF32(backend, sin, 'PeftRotary');
  const Y = heapF32(backend, out, 'PeftRotary');
  const sign = attrs.transpose ? -1 : 1;
  for (let r = 0; r < cRows.length; r++) {
    const o = r * d;
    const c = cRows[r]! * d;
    for (let i = 0; i < h; i++) {
      const x1 = X[o + i]!;
      const x2 = X[o + h + i]!;
      // forward: s1 pairs with x2 in the first half; transposed: s2 does (and the signs flip)
      const s1 = attrs.transpose ? S[c + h + i]! : S[c + i]!;
      const s2 = attrs.transpose ? S[c + i]! : S[c + h + i]!;
      Y[o + i] = x1 * C[c + i]! - sign * x2 * s1;
      Y[o + h + i] = x2 * C[c + h + i]! + sign * x1 * s2;
    }
  }
  return out;
}
