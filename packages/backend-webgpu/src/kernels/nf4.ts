import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { Nf4MatMulAttrs, Nf4MatMulInput, PeftKernelArgs } from '@peftjs/core';
import { GEMM_UNIFORMS, TiledProgram, gemmCode, gemmUniforms } from './gemm.js';

/**
 * `PeftNf4MatMul` on webgpu: the tiled product of gemm.ts whose B operand is the 4-bit weight,
 * dequantized while it is loaded into workgroup memory (no float copy of W anywhere).
 * Element i of W [out, in] (row-major): code nibble from the int32-packed byte stream (high nibble
 * first), block scale from `absmax` (float32) or, with double quantization, from its 8-bit code:
 * nestedCode[c] · nestedAbsmax[b / nestedBlockSize] + offset. Words are read raw (`bitcast<u32>`):
 * the generated getters would convert them to f32.
 */
function readNf4(transposed: boolean, doubleQuant: boolean): string {
  // y = x·Wᵀ: B(k, n) = W[n, k]; transposed, y = x·W: B(k, n) = W[k, n]
  const index = transposed ? 'k * uniforms.inF + n' : 'n * uniforms.inF + k';
  const scale = doubleQuant
    ? `let cw = bitcast<u32>(absmax[blk >> 2u]);
      let c = i32((cw >> (8u * (blk & 3u))) & 255u);
      let scale = nestedCode[c] * nestedAbsmax[i32(blk) / uniforms.nestedBlock] + uniforms.offset;`
    : // the nested inputs are unused here, but every bound buffer must be referenced (layout 'auto')
      `if (uniforms.dimR < 0) { return nestedAbsmax[0] + nestedCode[0]; }
      let scale = absmax[blk];`;
  return `fn readB(k : i32, n : i32) -> f32 {
      if (k >= uniforms.dimK || n >= uniforms.dimN) { return 0.0; }
      let i = u32(${index});
      let word = bitcast<u32>(packed[i >> 3u]);
      let shift = 8u * ((i >> 1u) & 3u) + select(4u, 0u, (i & 1u) == 1u);
      let nib = i32((word >> shift) & 15u);
      let blk = i / u32(uniforms.blockSize);
      ${scale}
      return code[nib] * scale;
    }`;
}

const NAMES: Nf4MatMulInput[] = ['x', 'packed', 'absmax', 'code', 'nestedAbsmax', 'nestedCode'];

export function nf4Kernel({ inputs, attrs, backend }: PeftKernelArgs<Nf4MatMulInput, Nf4MatMulAttrs>): tf.TensorInfo {
  const x = inputs.x;
  if (x.shape.length !== 2 || x.dtype !== 'float32')
    throw new Error(`PeftNf4MatMul (webgpu): x must be float32 [N, K], got ${x.dtype} [${x.shape}]`);
  const { outFeatures, inFeatures, transposed, doubleQuant } = attrs;
  const [M, K] = [x.shape[0]!, x.shape[1]!];
  const N = transposed ? inFeatures : outFeatures;
  if (K !== (transposed ? outFeatures : inFeatures))
    throw new Error(
      `PeftNf4MatMul (webgpu): x [${x.shape}] does not fit W [${outFeatures}, ${inFeatures}]${transposed ? ' (transposed)' : ''}`,
    );
  const key = `peftNf4_${transposed ? 'T' : 'N'}_${doubleQuant ? 'dq' : 'f32'}`;
  // B's consecutive k are adjacent in memory only when y = x·Wᵀ (k runs along a row of W)
  const code = gemmCode(false, readNf4(transposed, doubleQuant), !transposed, false, false);
  const uniforms = `${GEMM_UNIFORMS} inF : i32, blockSize : i32, nestedBlock : i32, offset : f32,`;
  // x is the product's `a` in the shader
  const program = new TiledProgram(M, N, ['a', ...NAMES.slice(1)], key, uniforms, code);
  const values = [
    ...gemmUniforms(M, N, K, 0, 1, 1),
    { type: 'int32', data: [inFeatures] },
    { type: 'int32', data: [attrs.blockSize] },
    { type: 'int32', data: [Math.max(1, attrs.nestedBlockSize)] },
    { type: 'float32', data: [attrs.offset ?? 0] },
  ];
  return (backend as WebGPUBackend).runWebGPUProgram(
    program,
    NAMES.map((n) => inputs[n]),
    'float32',
    values,
  );
}
