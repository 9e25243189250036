import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

/**
 * One tiled WGSL matrix product with an optional low-rank epilogue, the building block of the
 * fused LoRA kernels:
 *
 *   C[M, N] = α · op(A)·op(B) + β · P·op(Q)
 *   A: [M, K] (or [K, M] with transA)   B: [K, N] (or [N, K] with transB)
 *   P: [M, R]                            Q: [R, N] (or [N, R] with transQ)
 *
 * 64×64 output tiles, 16×16 threads with 4×4 outputs each, K in steps of 16 through workgroup
 * memory (8 KiB, under WebGPU's default 16 KiB). The epilogue adds the rank-R term while the tile
 * is still in registers, so `x·Wᵀ + s·(x·Aᵀ)·Bᵀ` never builds `ΔW` nor a second [M, N] tensor.
 * Sizes travel as uniforms; the shader key encodes only the structure (transposes, epilogue),
 * because programs with one key share one cached pipeline.
 */
export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  /** Epilogue operands P [M, R] and Q; absent: no epilogue. */
  p?: tf.TensorInfo;
  q?: tf.TensorInfo;
  transQ?: boolean;
  alpha?: number;
  beta?: number;
}

const TILE = 64;
const TK = 16;

/** WGSL `fn readB(k, n) -> f32` of a dense B ([K, N], or [N, K] when transposed). */
export function denseReadB(transB: boolean): string {
  return `fn readB(k : i32, n : i32) -> f32 {
      if (k >= uniforms.dimK || n >= uniforms.dimN) { return 0.0; }
      return ${transB ? 'b[n * uniforms.dimK + k]' : 'b[k * uniforms.dimN + n]'};
    }`;
}

/**
 * The product's WGSL. `readB` defines `fn readB(k : i32, n : i32) -> f32` (0 outside [K, N]);
 * `kMajorB` says whether consecutive k are adjacent in memory (B's loads then walk along k).
 */
export function gemmCode(transA: boolean, readB: string, kMajorB: boolean, epilogue: boolean, transQ: boolean): string {
  const transB = kMajorB;
  // Consecutive threads read consecutive addresses: along K when K is the contiguous axis, else along M/N.
  const loadA = transA
    ? 'let mm = e % 64; let kk = e / 64; As[kk * 64 + mm] = readA(row0 + mm, k0 + kk);'
    : 'let kk = e % 16; let mm = e / 16; As[kk * 64 + mm] = readA(row0 + mm, k0 + kk);';
  const loadB = transB
    ? 'let kb = e % 16; let nn = e / 16; Bs[kb * 64 + nn] = readB(k0 + kb, col0 + nn);'
    : 'let nn = e % 64; let kb = e / 64; Bs[kb * 64 + nn] = readB(k0 + kb, col0 + nn);';
  const epi = epilogue
    ? `var e = 0.0;
          for (var r = 0; r < uniforms.dimR; r++) {
            e = fma(p[m * uniforms.dimR + r], ${transQ ? 'q[n * uniforms.dimR + r]' : 'q[r * uniforms.dimN + n]'}, e);
          }
          v = v + uniforms.beta * e;`
    : '';
  return `
    var<workgroup> As : array<f32, ${TILE * TK}>;
    var<workgroup> Bs : array<f32, ${TILE * TK}>;

    fn readA(m : i32, k : i32) -> f32 {
      if (m >= uniforms.dimM || k >= uniforms.dimK) { return 0.0; }
      return ${transA ? 'a[k * uniforms.dimM + m]' : 'a[m * uniforms.dimK + k]'};
    }
    ${readB}

    fn store(m : i32, n0 : i32, acc : vec4<f32>) {
      if (m >= uniforms.dimM) { return; }
      for (var j = 0; j < 4; j++) {
        let n = n0 + 16 * j;
        if (n < uniforms.dimN) {
          var v = uniforms.alpha * acc[j];
          ${epi}
          result[m * uniforms.dimN + n] = v;
        }
      }
    }

    fn main() {
      let tx = i32(localId.x);
      let ty = i32(localId.y);
      let tid = ty * 16 + tx;
      let row0 = i32(workgroupId.y) * ${TILE};
      let col0 = i32(workgroupId.x) * ${TILE};
      // thread (tx, ty) owns rows row0 + ty + 16·i and columns col0 + tx + 16·j, i, j < 4
      var acc0 = vec4<f32>(0.0);
      var acc1 = vec4<f32>(0.0);
      var acc2 = vec4<f32>(0.0);
      var acc3 = vec4<f32>(0.0);
      for (var k0 = 0; k0 < uniforms.dimK; k0 = k0 + ${TK}) {
        for (var i = 0; i < 4; i++) {
          let e = tid + i * 256;
          { ${loadA} }
          { ${loadB} }
        }
        workgroupBarrier();
        for (var kk = 0; kk < ${TK}; kk++) {
          let o = kk * 64;
          let bv = vec4<f32>(Bs[o + tx], Bs[o + tx + 16], Bs[o + tx + 32], Bs[o + tx + 48]);
          acc0 = fma(vec4<f32>(As[o + ty]), bv, acc0);
          acc1 = fma(vec4<f32>(As[o + ty + 16]), bv, acc1);
          acc2 = fma(vec4<f32>(As[o + ty + 32]), bv, acc2);
          acc3 = fma(vec4<f32>(As[o + ty + 48]), bv, acc3);
        }
        workgroupBarrier();
      }
      store(row0 + ty, col0 + tx, acc0);
      store(row0 + ty + 16, col0 + tx, acc1);
      store(row0 + ty + 32, col0 + tx, acc2);
      store(row0 + ty + 48, col0 + tx, acc3);
    }`;
}

export const GEMM_UNIFORMS = 'dimM : i32, dimN : i32, dimK : i32, dimR : i32, alpha : f32, beta : f32,';

/** The first six uniforms of every product program, in `GEMM_UNIFORMS` order. */
export function gemmUniforms(
  M: number,
  N: number,
  K: number,
  R: number,
  alpha: number,
  beta: number,
): Array<{ type: string; data: number[] }> {
  return [
    { type: 'int32', data: [M] },
    { type: 'int32', data: [N] },
    { type: 'int32', data: [K] },
    { type: 'int32', data: [R] },
    { type: 'float32', data: [alpha] },
    { type: 'float32', data: [beta] },
  ];
}

/** A product program: 16×16 threads, one 64×64 output tile per workgroup. */
export class TiledProgram implements WebGPUProgram {
  outputShape: number[];
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [16, 16, 1];

  constructor(
    M: number,
    N: number,
    public variableNames: string[],
    public shaderKey: string,
    public uniforms: string,
    private readonly code: string,
  ) {
    this.outputShape = [M, N];
    this.dispatch = [Math.ceil(N / TILE), Math.ceil(M / TILE), 1];
  }

  getUserCode(): string {
    return this.code;
  }
}

const dims = (t: tf.TensorInfo): [number, number] => {
  if (t.shape.length !== 2) throw new Error(`peftGemm: operands must be 2-D, got shape [${t.shape}]`);
  if (t.dtype !== 'float32') throw new Error(`peftGemm: operands must be float32, got ${t.dtype}`);
  return [t.shape[0]!, t.shape[1]!];
};

/** Runs the product on the webgpu backend; returns the [M, N] result (owned by the caller). */
export function gemm(backend: WebGPUBackend, a: tf.TensorInfo, b: tf.TensorInfo, o: GemmOptions = {}): tf.TensorInfo {
  const [a0, a1] = dims(a);
  const [b0, b1] = dims(b);
  const [M, K] = o.transA ? [a1, a0] : [a0, a1];
  const [Kb, N] = o.transB ? [b1, b0] : [b0, b1];
  if (K !== Kb) throw new Error(`peftGemm: inner sizes differ (${K} vs ${Kb}) for shapes [${a.shape}] and [${b.shape}]`);
  const epilogue = o.p !== undefined && o.q !== undefined;
  let R = 0;
  if (epilogue) {
    const [p0, p1] = dims(o.p!);
    const [q0, q1] = dims(o.q!);
    R = p1;
    const [qr, qn] = o.transQ ? [q1, q0] : [q0, q1];
    if (p0 !== M || qr !== R || qn !== N)
      throw new Error(`peftGemm: epilogue shapes [${o.p!.shape}]·[${o.q!.shape}] do not give [${M}, ${N}]`);
  }
  const [transA, transB, transQ] = [Boolean(o.transA), Boolean(o.transB), Boolean(o.transQ)];
  const key = `peftGemm_${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}_${epilogue ? `epi${transQ ? 'T' : 'N'}` : 'plain'}`;
  const code = gemmCode(transA, denseReadB(transB), transB, epilogue, transQ);
  const program = new TiledProgram(M, N, epilogue ? ['a', 'b', 'p', 'q'] : ['a', 'b'], key, GEMM_UNIFORMS, code);
  const uniforms = gemmUniforms(M, N, K, R, o.alpha ?? 1, o.beta ?? 1);
  const inputs = epilogue ? [a, b, o.p!, o.q!] : [a, b];
  return backend.runWebGPUProgram(program, inputs, 'float32', uniforms);
}
