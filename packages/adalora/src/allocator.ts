import * as tf from '@tensorflow/tfjs-core';
import type { AdaLoraConfig, RankPattern } from './config.js';
import type { AdaLoraHook } from './layer.js';
import { budgetSchedule, kthSmallest } from './math.js';

/** One adapted module, as the allocator sees it. */
export interface AllocatorModule {
  /** Module path (`model.layers.0.self_attn.q_proj`). */
  path: string;
  hook: AdaLoraHook;
}

/** The gradients of one module's factors. */
export interface ModuleGradients {
  loraA: tf.Tensor;
  loraE: tf.Tensor;
  loraB: tf.Tensor;
}

type Factor = 'loraA' | 'loraE' | 'loraB';
const FACTORS: readonly Factor[] = ['loraA', 'loraE', 'loraB'];

/** Smoothed sensitivity Ī and uncertainty Ū of one factor (Zhang et al., Eq. 8–9). */
interface Importance {
  /** Ī: EMA (β1) of the sensitivity I = |w·∇w|. */
  sensitivity: tf.Tensor;
  /** Ū: EMA (β2) of |I − Ī|. */
  uncertainty: tf.Tensor;
}

/** What one call of `updateAndAllocate` did. */
export interface AllocationResult {
  /** The budget (total kept ranks) of this step. */
  budget: number;
  /** The rank pattern set in this step, or null when none was (warm-up, between allocations, final phase). */
  rankPattern: RankPattern | null;
}

/**
 * PEFT's `RankAllocator` for one adapter: the importance of each singular triplet
 * S = s(Eᵢ) + mean_j s(Aᵢⱼ) + mean_k s(Bₖᵢ) with s = Ī·Ū, and the cubic budget schedule that
 * masks the least important triplets (E := 0). State (the EMAs) lives in tensors owned here.
 */
export class RankAllocator {
  private importance = new Map<string, Importance>();
  readonly initBudget: number;
  readonly targetBudget: number;

  constructor(
    readonly config: AdaLoraConfig,
    readonly modules: readonly AllocatorModule[],
  ) {
    if (!(config.beta1 > 0 && config.beta1 < 1) || !(config.beta2 > 0 && config.beta2 < 1)) {
      throw new Error('AdaLoRA beta1 and beta2 must be in (0, 1)');
    }
    this.initBudget = modules.reduce((n, m) => n + m.hook.r, 0);
    this.targetBudget = config.target_r * modules.length;
  }

  /** The budget and whether to mask at `step`, for a run of `totalStep` steps. */
  schedule(step: number, totalStep: number): { budget: number; mask: boolean } {
    const c = this.config;
    return budgetSchedule(step, {
      initBudget: this.initBudget,
      targetBudget: this.targetBudget,
      tinit: c.tinit,
      tfinal: c.tfinal,
      totalStep,
      deltaT: c.deltaT,
    });
  }

  /**
   * PEFT's `update_and_allocate(global_step)`: update the importance EMAs while the budget
   * shrinks and mask to the scheduled budget; at `total_step − tfinal` fix the final pattern
   * (stored in `config.rank_pattern`) and drop the EMAs; after it, re-apply the fixed pattern.
   */
  updateAndAllocate(step: number, totalStep: number, grads: (m: AllocatorModule) => ModuleGradients | undefined): AllocationResult {
    const c = this.config;
    const end = totalStep - c.tfinal;
    if (step < end) {
      this.updateImportance(grads);
      const { budget, mask } = this.schedule(step, totalStep);
      const rankPattern = mask ? this.maskToBudget(budget) : null;
      if (rankPattern) c.rank_pattern = rankPattern;
      return { budget, rankPattern };
    }
    if (step === end) {
      const { budget } = this.schedule(step, totalStep);
      const rankPattern = this.maskToBudget(budget);
      c.rank_pattern = rankPattern;
      this.reset();
      return { budget, rankPattern };
    }
    if (c.rank_pattern) this.maskWithPattern(c.rank_pattern);
    return { budget: this.targetBudget, rankPattern: null };
  }

  /** I = |w·∇w|; Ī ← β1·Ī + (1−β1)·I; Ū ← β2·Ū + (1−β2)·|I − Ī|. */
  private updateImportance(grads: (m: AllocatorModule) => ModuleGradients | undefined): void {
    const { beta1, beta2 } = this.config;
    for (const m of this.modules) {
      const g = grads(m);
      if (!g) throw new Error(`AdaLoRA: no gradients for ${m.path} (is the adapter trainable and active?)`);
      for (const f of FACTORS) {
        const key = `${m.path}.${f}`;
        const w = m.hook[f];
        const old = this.importance.get(key);
        const next = tf.tidy(() => {
          const ipt = tf.abs(tf.mul(w, g[f]));
          const s0 = old?.sensitivity ?? tf.zerosLike(w);
          const u0 = old?.uncertainty ?? tf.zerosLike(w);
          const sensitivity = tf.add(tf.mul(s0, beta1), tf.mul(ipt, 1 - beta1));
          const uncertainty = tf.add(tf.mul(u0, beta2), tf.mul(tf.abs(tf.sub(ipt, sensitivity)), 1 - beta2));
          return { sensitivity: tf.keep(sensitivity), uncertainty: tf.keep(uncertainty) };
        });
        if (old) tf.dispose([old.sensitivity, old.uncertainty]);
        this.importance.set(key, next);
      }
    }
  }

  /** S per triplet of a module: [r] = s(E)ᵢ + mean_j s(A)ᵢⱼ + mean_k s(B)ₖᵢ. */
  tripletScores(m: AllocatorModule): Float32Array {
    return tf.tidy(() => {
      const score = (f: Factor) => {
        const imp = this.importance.get(`${m.path}.${f}`);
        if (!imp) throw new Error(`AdaLoRA: no importance scores for ${m.path} yet (update them before allocating)`);
        return tf.mul(imp.sensitivity, imp.uncertainty);
      };
      const a = tf.mean(score('loraA'), 1); // [r]
      const b = tf.mean(score('loraB'), 0); // [r]
      const e = tf.reshape(score('loraE'), [-1]); // [r]
      return tf.add(e, tf.add(a, b)).dataSync() as Float32Array;
    });
  }

  /** Masks (E := 0) every triplet scoring at or below the (initBudget − budget)-th smallest score. */
  private maskToBudget(budget: number): RankPattern {
    const scores = this.modules.map((m) => this.tripletScores(m));
    const all = new Float32Array(scores.reduce((n, s) => n + s.length, 0));
    let o = 0;
    for (const s of scores) {
      all.set(s, o);
      o += s.length;
    }
    const threshold = kthSmallest(all, this.initBudget - budget);
    const pattern: RankPattern = {};
    this.modules.forEach((m, i) => (pattern[`${m.path}.lora_E`] = Array.from(scores[i], (s) => !(s <= threshold))));
    this.maskWithPattern(pattern);
    return pattern;
  }

  /** E := 0 where the pattern says a rank is not kept (PEFT's `mask_using_rank_pattern`). */
  maskWithPattern(pattern: RankPattern): void {
    for (const m of this.modules) {
      const mask = pattern[`${m.path}.lora_E`];
      if (!mask) continue;
      if (mask.length !== m.hook.r)
        throw new Error(`AdaLoRA rank_pattern["${m.path}.lora_E"] has ${mask.length} entries for ${m.hook.r} ranks`);
      tf.tidy(() => {
        const keep = tf.cast(tf.tensor2d(mask.map(Number), [mask.length, 1]), 'bool');
        m.hook.loraE.assign(tf.where(keep, m.hook.loraE, tf.zerosLike(m.hook.loraE)));
      });
    }
  }

  /** Drops the importance EMAs (PEFT's `reset_ipt`). */
  reset(): void {
    for (const imp of this.importance.values()) tf.dispose([imp.sensitivity, imp.uncertainty]);
    this.importance.clear();
  }

  dispose(): void {
    this.reset();
  }
}
