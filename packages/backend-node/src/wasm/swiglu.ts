import type * as tf from '@tensorflow/tfjs-core';
import type { PeftKernelArgs } from '@peftjs/core';
import { ptrOf, type WasmHeapBackend } from './gemm-kernels.js';
import { elementwiseFor } from './elementwise/module.js';
import { fastExp, heapF32, heapMemory, sameShape } from './rows.js';

/**
 * Runs `simd` (elementwise SIMD module) on the first ⌊n/4⌋·4 elements and `tail` (JS) on the rest.
 * `infos` are the op's tensors, output last.
 */
function split(
  backend: WasmHeapBackend,
  infos: tf.TensorInfo[],
  simd: (ptrs: number[], bytes: number) => void,
  tail: (views: Float32Array[], i: number) => void,
): void {
  const n = infos[0]!.shape.reduce((p, d) => p * d, 1);
  const body = n & ~3;
  simd(
    infos.map((t) => ptrOf(backend, t)),
    body * 4,
  );
  if (body === n) return;
  const views = infos.map((t) => heapF32(backend, t, 'PeftSwiGlu'));
  for (let i = body; i < n; i++) tail(views, i);
}

/** `PeftSwiGlu` on wasm: g·σ(g)·u, 4 lanes a step (elementwise SIMD module). */
export function wasmSwiGlu({ inputs, backend: b }: PeftKernelArgs<'gate' | 'up', Record<string, never>>): tf.TensorInfo {
  const backend = b as unknown as WasmHeapBackend;
  const { gate, up } = inputs;
  sameShape('PeftSwiGlu gate and up', gate, up);
  if (gate.dtype !== 'float32' || up.dtype !== 'float32') throw new Error('PeftSwiGlu on wasm: float32 inputs expected');
  const out = backend.makeOutput([...gate.shape], 'float32');
  const ew = elementwiseFor(heapMemory(backend, 'PeftSwiGlu'));
  split(
    backend,
    [gate, up, out],
    ([g, u, o], bytes) => ew.swiglu(g!, u!, o!, bytes),
    ([G, U, O], i) => (O![i] = (G![i]! / (1 + fastExp(-G![i]!))) * U![i]!),
  );
  return out;
}

/** `PeftSwiGluGrad` on wasm: dy·u·σ(g)·(1 + g·(1 − σ(g))) for the gate, dy·g·σ(g) for up. */
export function wasmSwiGluGrad({ inputs, attrs, backend: b }: PeftKernelArgs<'dy' | 'gate' | 'up', { wrt: 'gate' | 'up' }>): tf.TensorInfo {
  const backend = b as unknown as WasmHeapBackend;
  const { dy, gate, up } = inputs;
  sameShape('PeftSwiGluGrad gate and up', gate, up);
  sameShape('PeftSwiGluGrad dy and gate', dy, gate);
  if ([dy, gate, up].some((t) => t.dtype !== 'float32')) throw new Error('PeftSwiGluGrad on wasm: float32 inputs expected');
  const out = backend.makeOutput([...gate.shape], 'float32');
  const ew = elementwiseFor(heapMemory(backend, 'PeftSwiGlu'));
  if (attrs.wrt === 'up') {
    split(
      backend,
      [dy, gate, out],
      ([d, g, o], bytes) => ew.swiglu_dup(d!, g!, o!, bytes),
      ([D, G, O], i) => (O![i] = (D![i]! * G![i]!) / (1 + fastExp(-G![i]!))),
    );
    return out;
  }
  split(
    backend,
    [dy, gate, up, out],
    ([d, g, u, o], bytes) => ew.swiglu_dgate(d!, g!, u!, o!, bytes),
    ([D, G, U, O], i) => {
      const s = 1 / (1 + fastExp(-G![i]!));
      O![i] = D![i]! * U![i]! * s * (1 + G![i]! * (1 - s));
    },
  );
  return out;
}
