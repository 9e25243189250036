import * as tf from '@tensorflow/tfjs-core';
import type { PeftModel } from '@peftjs/core';
import type { LoraConfig } from './config.js';
import { LoraHook } from './layer.js';

export type CombinationType = 'linear' | 'cat';

/**
 * PEFT's `add_weighted_adapter` for LoRA: a new adapter combining existing ones.
 * - `linear`: same rank r; A = Σ √wᵢ·sᵢ·Aᵢ, B = Σ √wᵢ·Bᵢ.
 * - `cat`: rank Σ rᵢ; A = [w₁·s₁·A₁; w₂·s₂·A₂; …] (rows), B = [B₁ B₂ …] (columns): exactly Σ wᵢ·ΔWᵢ.
 * The new adapter has `lora_alpha = r` (as PEFT sets it) and targets the union of the modules.
 */
export function addWeightedAdapter<I, O>(
  peft: PeftModel<I, O>,
  adapters: readonly string[],
  weights: readonly number[],
  newName: string,
  combinationType: CombinationType = 'linear',
): void {
  if (adapters.length === 0) throw new Error('addWeightedAdapter: adapters must not be empty');
  if (weights.length !== adapters.length) {
    throw new Error(`addWeightedAdapter: ${adapters.length} adapters but ${weights.length} weights`);
  }
  const configs = adapters.map((a) => peft.adapter(a).config as LoraConfig);
  if (configs.some((c) => c.peft_type !== 'LORA')) throw new Error('addWeightedAdapter: every adapter must be a LoRA adapter');
  const newRank = combinedRank(configs, weights, combinationType);
  const targets = new Set<string>();
  for (const r of adapters.map((a) => peft.adapter(a))) for (const h of r.hooks) targets.add(h.slot.info.path);
  peft.addAdapter(
    newName,
    {
      ...configs[0],
      r: newRank,
      lora_alpha: newRank,
      rank_pattern: {},
      alpha_pattern: {},
      target_modules: [...targets],
      layers_to_transform: null,
      layers_pattern: null,
      init_lora_weights: true,
    },
    { keepUnknownFields: true },
  ); // the first adapter's config, with whatever fields it was loaded with
  for (const h of peft.adapter(newName).hooks) {
    const target = h.hook as LoraHook;
    const sources = adapters.map((a, i) => ({ hook: h.slot.hooks.get(a) as LoraHook | undefined, w: weights[i] }));
    combineFactors(target, sources, combinationType, newRank);
  }
}

/** The combined adapter's rank: the common rank (`linear`, which also needs weights ≥ 0 and no rank_pattern) or the sum (`cat`). */
function combinedRank(configs: readonly LoraConfig[], weights: readonly number[], combinationType: CombinationType): number {
  const ranks = configs.map((c) => c.r);
  if (combinationType === 'linear') {
    if (new Set(ranks).size !== 1)
      throw new Error(`addWeightedAdapter: combination "linear" needs equal ranks, got ${ranks.join(', ')}; use "cat"`);
    if (weights.some((w) => w < 0)) throw new Error('addWeightedAdapter: combination "linear" needs non-negative weights (it takes √w)');
    if (configs.some((c) => Object.keys(c.rank_pattern).length))
      throw new Error('addWeightedAdapter: combination "linear" does not support rank_pattern; use "cat"');
    return ranks[0];
  }
  if (combinationType === 'cat') return ranks.reduce((a, b) => a + b, 0);
  throw new Error(`addWeightedAdapter: combinationType must be "linear" or "cat", got ${JSON.stringify(combinationType)}`);
}

/**
 * One module's combined factors into `target`: `linear` A = Σ √wᵢ·sᵢ·Aᵢ, B = Σ √wᵢ·Bᵢ; `cat`
 * A = [wᵢ·sᵢ·Aᵢ] stacked by rows [newRank, in], B = [Bᵢ] by columns [out, newRank], zero-padded where
 * an adapter lacks the module.
 */
function combineFactors(
  target: LoraHook,
  sources: ReadonlyArray<{ hook: LoraHook | undefined; w: number }>,
  combinationType: CombinationType,
  newRank: number,
): void {
  tf.tidy(() => {
    const as: tf.Tensor[] = [];
    const bs: tf.Tensor[] = [];
    for (const { hook, w } of sources) {
      if (!hook) continue;
      if (combinationType === 'linear') {
        as.push(tf.mul(hook.loraA, Math.sqrt(w) * hook.scaling));
        bs.push(tf.mul(hook.loraB, Math.sqrt(w)));
      } else {
        as.push(tf.mul(hook.loraA, w * hook.scaling));
        bs.push(hook.loraB);
      }
    }
    if (combinationType === 'linear') {
      target.loraA.assign(tf.addN(as));
      target.loraB.assign(tf.addN(bs));
    } else {
      const a = tf.concat(as, 0);
      const b = tf.concat(bs, 1);
      const missing = newRank - a.shape[0];
      target.loraA.assign(
        missing
          ? tf.pad(a, [
              [0, missing],
              [0, 0],
            ])
          : a,
      );
      target.loraB.assign(
        missing
          ? tf.pad(b, [
              [0, 0],
              [0, missing],
            ])
          : b,
      );
    }
  });
}
