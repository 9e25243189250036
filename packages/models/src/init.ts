import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@peftjs/core';

/**
 * A generator whose weight tensors are zeros: a model built with it for loading costs no
 * random-number time, and its zero pages stay unresident until a checkpoint tensor replaces
 * them. Scalar draws (dropout seeds) work as in `Rng`.
 */
export class SkipInitRng extends Rng {
  override uniformTensor(shape: number[]): tf.Tensor {
    return tf.zeros(shape);
  }

  override normalTensor(shape: number[]): tf.Tensor {
    return tf.zeros(shape);
  }

  override truncatedNormalTensor(shape: number[]): tf.Tensor {
    return tf.zeros(shape);
  }
}

/**
 * A float32 tensor of a little-endian F32 safetensors entry without copying: a view of the
 * file's bytes (null when the bytes are not 4-byte aligned or the host is big-endian).
 * bytes: [numel·4]   →   [...shape].
 */
export function viewF32(bytes: Uint8Array, shape: number[]): tf.Tensor | null {
  if (!LITTLE_ENDIAN || bytes.byteOffset % 4 !== 0) return null;
  return tf.tensor(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), shape, 'float32');
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
