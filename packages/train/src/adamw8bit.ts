import * as tf from '@tensorflow/tfjs-core';
import { bytesToInt32Words, createDynamicMap, dequantizeBlockwise8bit, quantizeBlockwise8bit, sameShape } from '@peftjs/core';
import { AdamW, type AdamWOptions, type NamedVariable, type Optimizer, type OptimizerState } from './optimizers.js';

/** bitsandbytes: parameters with fewer elements keep float32 states (`min_8bit_size`). */
export const MIN_8BIT_SIZE = 4096;
/** bitsandbytes' block size of optimizer states (since 0.44). */
export const STATE_BLOCK_SIZE = 256;

const SIGNED = createDynamicMap(true);
const UNSIGNED = createDynamicMap(false);

/** One 8-bit state: codes packed 4 per int32 word [ceil(n/4)], float32 absmax per block of 256. */
interface State8 {
  codes: tf.Tensor1D;
  absmax: tf.Tensor1D;
}

function encode(values: Float32Array, code: Float32Array): State8 {
  const { q, absmax } = quantizeBlockwise8bit(values, code, STATE_BLOCK_SIZE);
  return { codes: tf.tensor1d(bytesToInt32Words(q), 'int32'), absmax: tf.tensor1d(absmax) };
}

function decode(s: State8, n: number, code: Float32Array): Float32Array {
  const words = s.codes.dataSync() as Int32Array;
  const q = new Uint8Array(words.buffer, words.byteOffset, n);
  return dequantizeBlockwise8bit(q, s.absmax.dataSync() as Float32Array, code, STATE_BLOCK_SIZE);
}

/**
 * bitsandbytes' `AdamW8bit`: AdamW whose moments are stored in 8 bits — blockwise dynamic quantization
 * (blocks of 256, float32 absmax per block; m with the signed map, v with the unsigned one) — for every
 * parameter of at least 4096 elements; smaller ones keep float32 moments (a plain AdamW). Each step
 * dequantizes, runs the float32 AdamW update (torch's formula) and quantizes again with fresh absmax.
 * The 8-bit update runs in JavaScript on the parameter's values (one read and one write per step).
 */
export class AdamW8bit implements Optimizer {
  readonly name = 'AdamW8bit';
  private readonly small: AdamW;
  private readonly smallIndex: number[] = [];
  private readonly bigIndex: number[] = [];
  private readonly states: Array<{ m: State8; v: State8 }> = [];
  private steps = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(
    private readonly params: readonly NamedVariable[],
    opts: AdamWOptions = {},
  ) {
    params.forEach(([, v], i) => (v.size >= MIN_8BIT_SIZE ? this.bigIndex : this.smallIndex).push(i));
    this.small = new AdamW(
      this.smallIndex.map((i) => params[i]),
      opts,
    );
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    for (const i of this.bigIndex) {
      const zeros = new Float32Array(params[i][1].size);
      this.states.push({ m: encode(zeros, SIGNED), v: encode(zeros, UNSIGNED) });
    }
  }

  get stepCount(): number {
    return this.steps;
  }

  step(grads: readonly tf.Tensor[], lr: number): void {
    if (grads.length !== this.params.length)
      throw new Error(`${this.name}: ${grads.length} gradients for ${this.params.length} parameters`);
    grads.forEach((g, i) => {
      if (!sameShape(g.shape, this.params[i][1].shape))
        throw new Error(`${this.name}: gradient of ${this.params[i][0]} has shape [${g.shape}]`);
    });
    this.small.step(
      this.smallIndex.map((i) => grads[i]),
      lr,
    );
    const t = this.steps + 1;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    this.bigIndex.forEach((pi, k) => {
      const p = this.params[pi][1];
      const n = p.size;
      const g = grads[pi].dataSync() as Float32Array;
      const w = Float32Array.from(p.dataSync() as Float32Array);
      const s = this.states[k];
      const m = decode(s.m, n, SIGNED);
      const v = decode(s.v, n, UNSIGNED);
      for (let j = 0; j < n; j++) {
        m[j] = b1 * m[j] + (1 - b1) * g[j];
        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
        w[j] = w[j] * (1 - lr * wd) - (stepSize * m[j]) / (Math.sqrt(v[j]) / bc2Sqrt + eps);
      }
      tf.dispose([s.m.codes, s.m.absmax, s.v.codes, s.v.absmax]);
      this.states[k] = { m: encode(m, SIGNED), v: encode(v, UNSIGNED) };
      tf.tidy(() => p.assign(tf.tensor(w, p.shape)));
    });
    this.steps = t;
  }

  /** Bytes the moments take: 8-bit codes + absmax for large parameters, float32 for the small ones. */
  stateBytes(): number {
    const big = this.states.reduce((a, s) => a + 4 * (s.m.codes.size + s.m.absmax.size + s.v.codes.size + s.v.absmax.size), 0);
    return big + this.smallIndex.reduce((a, i) => a + 8 * this.params[i][1].size, 0);
  }

  getState(): OptimizerState {
    const inner = this.small.getState();
    const tensors = new Map(inner.tensors);
    this.bigIndex.forEach((pi, k) => {
      const name = this.params[pi][0];
      const s = this.states[k];
      tensors.set(`state1.${name}`, s.m.codes);
      tensors.set(`absmax1.${name}`, s.m.absmax);
      tensors.set(`state2.${name}`, s.v.codes);
      tensors.set(`absmax2.${name}`, s.v.absmax);
    });
    return {
      tensors,
      info: {
        name: this.name,
        step: this.steps,
        betas: [this.beta1, this.beta2],
        eps: this.eps,
        weight_decay: this.weightDecay,
        block_size: STATE_BLOCK_SIZE,
      },
    };
  }

  setState(state: OptimizerState): void {
    if (state.info.name !== this.name) throw new Error(`Optimizer state is for ${state.info.name}, this optimizer is ${this.name}`);
    const fresh: Array<{ m: State8; v: State8 }> = [];
    for (const pi of this.bigIndex) {
      const name = this.params[pi][0];
      const get = (k: string) => {
        const t = state.tensors.get(`${k}.${name}`);
        if (!t) throw new Error(`${this.name} state: missing ${k}.${name}`);
        return t as tf.Tensor1D;
      };
      const n = this.params[pi][1].size;
      const [c1, a1, c2, a2] = [get('state1'), get('absmax1'), get('state2'), get('absmax2')];
      const blocks = Math.ceil(n / STATE_BLOCK_SIZE);
      if (c1.size !== Math.ceil(n / 4) || c2.size !== c1.size || a1.size !== blocks || a2.size !== blocks)
        throw new Error(`${this.name} state: sizes of ${name} do not match the parameter`);
      fresh.push({ m: { codes: tf.clone(c1), absmax: tf.clone(a1) }, v: { codes: tf.clone(c2), absmax: tf.clone(a2) } });
    }
    try {
      this.small.setState({ tensors: state.tensors, info: { ...state.info, name: this.small.name } });
    } catch (e) {
      for (const s of fresh) tf.dispose([s.m.codes, s.m.absmax, s.v.codes, s.v.absmax]);
      throw e;
    }
    for (const s of this.states) tf.dispose([s.m.codes, s.m.absmax, s.v.codes, s.v.absmax]);
    this.states.splice(0, this.states.length, ...fresh);
    this.steps = state.info.step;
  }

  dispose(): void {
    this.small.dispose();
    for (const s of this.states) tf.dispose([s.m.codes, s.m.absmax, s.v.codes, s.v.absmax]);
    this.states.length = 0;
  }
}
