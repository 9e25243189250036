import * as tf from '@tensorflow/tfjs-core';
import { adamUpdate, ema, sameShape } from '@peftjs/core';

/** A trainable parameter as the optimizer sees it: its PEFT-style name and its variable. */
export type NamedVariable = readonly [name: string, variable: tf.Variable];

/** Optimizer state for a checkpoint: tensors by name (`exp_avg.<param>`) and JSON scalars. */
export interface OptimizerState {
  tensors: Map<string, tf.Tensor>;
  /** Step count and hyper-parameters, for `trainer_state.json`. */
  info: { name: string; step: number; [key: string]: unknown };
}

/**
 * An optimizer written here (not `tf.train`): its state is `tf.Variable`s made once for the
 * parameters it was built with, and disposed with it.
 */
export interface Optimizer {
  readonly name: string;
  /** Updates applied so far (skipped steps do not count). */
  readonly stepCount: number;
  /**
   * One update. `grads[i]` belongs to the i-th parameter given at construction. Runs in one
   * `tf.tidy`; the gradients are not disposed.
   */
  step(grads: readonly tf.Tensor[], lr: number): void;
  /** Views of the live state (do not dispose); serialise before the next step. */
  getState(): OptimizerState;
  /** Restores state saved by `getState`; shapes and names are checked first, nothing changes on error. */
  setState(state: OptimizerState): void;
  dispose(): void;
}

export interface AdamWOptions {
  /** Default 0.9, 0.999 (torch). */
  betas?: readonly [number, number];
  /** Added to √v̂. Default 1e-8. */
  eps?: number;
  /** Decoupled: p ← p − lr·wd·p before the Adam update. Default 0.01 (torch's AdamW default). */
  weightDecay?: number;
}

export interface SgdOptions {
  momentum?: number;
  dampening?: number;
  /** L2 added to the gradient (torch SGD's weight_decay, not decoupled). */
  weightDecay?: number;
  nesterov?: boolean;
}

let slotCounter = 0;

function zerosVariable(v: tf.Variable, what: string): tf.Variable {
  const z = tf.zeros(v.shape, 'float32');
  const out = tf.variable(z, false, `peftjs_${what}_${slotCounter++}`);
  z.dispose();
  return out;
}

abstract class BaseOptimizer implements Optimizer {
  abstract readonly name: string;
  protected steps = 0;
  /** slot name → one variable per parameter. */
  protected readonly slots = new Map<string, tf.Variable[]>();

  constructor(
    protected readonly params: readonly NamedVariable[],
    slotNames: readonly string[],
  ) {
    const seen = new Set<string>();
    for (const [n] of params) {
      if (seen.has(n)) throw new Error(`Optimizer: parameter "${n}" is listed twice`);
      seen.add(n);
    }
    for (const s of slotNames)
      this.slots.set(
        s,
        params.map(([, v]) => zerosVariable(v, s)),
      );
  }

  get stepCount(): number {
    return this.steps;
  }

  abstract step(grads: readonly tf.Tensor[], lr: number): void;
  protected abstract hyper(): Record<string, unknown>;

  protected checkGrads(grads: readonly tf.Tensor[]): void {
    if (grads.length !== this.params.length)
      throw new Error(`${this.name}: ${grads.length} gradients for ${this.params.length} parameters`);
    grads.forEach((g, i) => {
      const [n, v] = this.params[i];
      if (!sameShape(g.shape, v.shape)) throw new Error(`${this.name}: gradient of ${n} has shape [${g.shape}], parameter [${v.shape}]`);
    });
  }

  getState(): OptimizerState {
    const tensors = new Map<string, tf.Tensor>();
    for (const [slot, vars] of this.slots) this.params.forEach(([n], i) => tensors.set(`${slot}.${n}`, vars[i]));
    return { tensors, info: { name: this.name, step: this.steps, ...this.hyper() } };
  }

  setState(state: OptimizerState): void {
    if (state.info.name !== this.name) throw new Error(`Optimizer state is for ${state.info.name}, this optimizer is ${this.name}`);
    const problems: string[] = [];
    for (const [slot, vars] of this.slots) {
      this.params.forEach(([n], i) => {
        const t = state.tensors.get(`${slot}.${n}`);
        if (!t) problems.push(`missing ${slot}.${n}`);
        else if (!sameShape(t.shape, vars[i].shape)) problems.push(`${slot}.${n}: shape [${t.shape}], expected [${vars[i].shape}]`);
      });
    }
    if (problems.length) throw new Error(`${this.name} state: ${problems.join('; ')}`);
    for (const [slot, vars] of this.slots) {
      this.params.forEach(([n], i) => {
        const t = state.tensors.get(`${slot}.${n}`)!;
        tf.tidy(() => vars[i].assign(tf.cast(t, 'float32')));
      });
    }
    this.steps = state.info.step;
  }

  dispose(): void {
    for (const vars of this.slots.values()) for (const v of vars) v.dispose();
    this.slots.clear();
  }
}

/**
 * AdamW exactly as `torch.optim.AdamW` (amsgrad off):
 *   p ← p·(1 − lr·λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
 *   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
 */
export class AdamW extends BaseOptimizer {
  readonly name = 'AdamW';
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: readonly NamedVariable[], opts: AdamWOptions = {}) {
    super(params, ['exp_avg', 'exp_avg_sq']);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    for (const b of [this.beta1, this.beta2]) if (!(b >= 0 && b < 1)) throw new Error(`AdamW betas must be in [0, 1), got ${b}`);
  }

  step(grads: readonly tf.Tensor[], lr: number): void {
    this.checkGrads(grads);
    const t = this.steps + 1;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const m = this.slots.get('exp_avg')!;
    const v = this.slots.get('exp_avg_sq')!;
    tf.tidy(() => {
      this.params.forEach(([, p], i) => {
        const g = tf.cast(grads[i], 'float32');
        // one pass each where a backend has the kernels (wasm: 16 kernel calls a parameter → 3)
        const mNew = ema({ x: m[i]!, g }, { decay: b1, square: false });
        const vNew = ema({ x: v[i]!, g }, { decay: b2, square: true });
        const pNew = adamUpdate({ p, m: mNew, v: vNew }, { keep: wd !== 0 ? 1 - lr * wd : 1, bc2: bc2Sqrt, eps, stepSize });
        m[i].assign(mNew);
        v[i].assign(vNew);
        p.assign(pNew);
      });
    });
    this.steps = t;
  }

  protected hyper(): Record<string, unknown> {
    return { betas: [this.beta1, this.beta2], eps: this.eps, weight_decay: this.weightDecay };
  }
}

/**
 * SGD as `torch.optim.SGD`: d = g + λp; with momentum μ the buffer is d on the first step and
 * μ·buf + (1−dampening)·d after; Nesterov uses d + μ·buf; p ← p − lr·d.
 */
export class SGD extends BaseOptimizer {
  readonly name = 'SGD';
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;

  constructor(params: readonly NamedVariable[], opts: SgdOptions = {}) {
    super(params, (opts.momentum ?? 0) !== 0 ? ['momentum_buffer'] : []);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      throw new Error('SGD nesterov requires a momentum and zero dampening');
  }

  step(grads: readonly tf.Tensor[], lr: number): void {
    this.checkGrads(grads);
    const { momentum: mu, dampening, weightDecay: wd } = this;
    const buf = this.slots.get('momentum_buffer');
    const first = this.steps === 0;
    tf.tidy(() => {
      this.params.forEach(([, p], i) => {
        let d = tf.cast(grads[i], 'float32');
        if (wd !== 0) d = tf.add(d, tf.mul(p, wd));
        if (buf) {
          const b = first ? d : tf.add(tf.mul(buf[i], mu), tf.mul(d, 1 - dampening));
          buf[i].assign(b);
          d = this.nesterov ? tf.add(d, tf.mul(b, mu)) : b;
        }
        p.assign(tf.sub(p, tf.mul(d, lr)));
      });
    });
    this.steps += 1;
  }

  protected hyper(): Record<string, unknown> {
    return { momentum: this.momentum, dampening: this.dampening, weight_decay: this.weightDecay, nesterov: this.nesterov };
  }
}

/**
 * The global L2 norm of a list of gradients (torch's `clip_grad_norm_` total norm) as a scalar
 * tensor; no data is read.
 */
export function globalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    if (grads.length === 0) return tf.scalar(0);
    return tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(tf.cast(g, 'float32')))))) as tf.Scalar;
  });
}

/** torch's clip coefficient: min(1, maxNorm / (norm + 1e-6)). */
export function clipCoefficient(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/**
 * `torch.nn.utils.clip_grad_norm_` for tensors: returns the clipped gradients (new tensors, or the
 * same ones when no clipping is needed) and the norm before clipping. Reads one number.
 */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: number } {
  const n = globalNorm(grads);
  const norm = n.dataSync()[0];
  n.dispose();
  const coef = clipCoefficient(norm, maxNorm);
  if (!(coef < 1)) return { grads: [...grads], norm };
  return { grads: grads.map((g) => tf.tidy(() => tf.mul(g, coef))), norm };
}
