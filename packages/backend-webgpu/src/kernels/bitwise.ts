import * as tf from '@tensorflow/tfjs-core';
import { type WebGPUBackend, type WebGPUProgram, webgpu_util } from '@tensorflow/tfjs-backend-webgpu';

/** `BitwiseAnd` (int32, same shapes, as tfjs-core's op requires): missing from tfjs-backend-webgpu 4.22. */
class BitwiseAndProgram implements WebGPUProgram {
  variableNames = ['a', 'b'];
  outputShape: number[];
  shaderKey = 'peftBitwiseAnd';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;

  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = webgpu_util.flatDispatchLayout(shape);
    this.dispatch = webgpu_util.computeDispatch(this.dispatchLayout, shape, this.workgroupSize);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) { result[index] = a[index] & b[index]; }
      }`;
  }
}

export function registerBitwiseAnd(): void {
  if (tf.getKernel('BitwiseAnd', 'webgpu')) return;
  tf.registerKernel({
    kernelName: 'BitwiseAnd',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (a.dtype !== 'int32' || b.dtype !== 'int32' || a.shape.join() !== b.shape.join()) {
        throw new Error(`BitwiseAnd (webgpu): int32 tensors of one shape, got ${a.dtype} [${a.shape}] and ${b.dtype} [${b.shape}]`);
      }
      return (backend as WebGPUBackend).runWebGPUProgram(new BitwiseAndProgram(a.shape.slice()), [a, b], 'int32');
    },
  });
}
