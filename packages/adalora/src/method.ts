import * as tf from '@tensorflow/tfjs-core';
import { definePeftMethod, type AdapterRecord, type PeftModel } from '@peftjs/core';
import { ADALORA_FIELDS, adaLoraConfigToJSON, parseAdaLoraConfig, rankMask, type AdaLoraConfig } from './config.js';
import { AdaLoraHook } from './layer.js';
import { RankAllocator, type AllocationResult, type AllocatorModule, type ModuleGradients } from './allocator.js';
import { orthogonalityGap } from './math.js';
import { adaLoraState, loadAdaLoraState } from './state.js';

/** The AdaLoRA modules of an adapter, in injection order. */
export function adaLoraModules(record: AdapterRecord): AllocatorModule[] {
  return record.hooks.filter((h) => h.hook instanceof AdaLoraHook).map((h) => ({ path: h.slot.info.path, hook: h.hook as AdaLoraHook }));
}

const allocators = new WeakMap<AdapterRecord, RankAllocator>();

function allocatorOf(record: AdapterRecord): RankAllocator {
  let a = allocators.get(record);
  if (!a || a.modules.some((m) => m.hook.loraA.isDisposed)) {
    a?.dispose();
    a = new RankAllocator(record.config as AdaLoraConfig, adaLoraModules(record));
    allocators.set(record, a);
  }
  return a;
}

/** The allocator of a trainable AdaLoRA adapter (made on first use): budgets, triplet scores. */
export function rankAllocator<I, O>(peft: PeftModel<I, O>, adapterName = 'default'): RankAllocator {
  const record = peft.adapter(adapterName);
  if (record.method.type !== 'ADALORA') throw new Error(`Adapter "${adapterName}" is ${record.method.meta.name}, not AdaLoRA`);
  return allocatorOf(record);
}

type Gradients = ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>;

/**
 * PEFT's `update_and_allocate(global_step)` for a plain training loop: call it after each
 * optimizer step with that step's gradients (by parameter name as in
 * `peft.trainableParameters()`, or the `grads` of `tf.variableGrads`) and the step index from 0.
 * The `Trainer` calls it for you. Total steps: `config.total_step`, else `opts.totalSteps`.
 */
export function updateAndAllocate<I, O>(
  peft: PeftModel<I, O>,
  adapterName: string,
  grads: Gradients,
  step: number,
  opts: { totalSteps?: number } = {},
): AllocationResult {
  const record = peft.adapter(adapterName);
  const config = record.config as AdaLoraConfig;
  const totalStep = config.total_step ?? opts.totalSteps;
  if (!totalStep)
    throw new Error(`AdaLoRA adapter "${adapterName}": total_step is not set in its config; pass the run's length as opts.totalSteps`);
  const lookup = (name: string, v: tf.Variable): tf.Tensor | undefined =>
    grads instanceof Map
      ? (grads.get(name) ?? grads.get(v.name))
      : ((grads as Record<string, tf.Tensor>)[name] ?? (grads as Record<string, tf.Tensor>)[v.name]);
  const moduleGrads = (m: AllocatorModule): ModuleGradients | undefined => {
    const [a, e, b] = (['lora_A', 'lora_E', 'lora_B'] as const).map((p) =>
      lookup(`${m.path}.${p}.${adapterName}`, m.hook.params.parameter(p)!),
    );
    return a && e && b ? { loraA: a, loraE: e, loraB: b } : undefined;
  };
  return allocatorOf(record).updateAndAllocate(step, totalStep, moduleGrads);
}

/**
 * AdaLoRA's orthogonal regulariser R(P, Q) = orth_reg_weight · mean over the factors of
 * ‖AAᵀ − I‖_F and ‖BᵀB − I‖_F (PEFT adds it to the loss in `forward`). For a plain loop: add it
 * to the loss inside the gradient computation. The `Trainer` adds it for you.
 */
export function orthogonalRegularization<I, O>(peft: PeftModel<I, O>, adapterName = 'default'): tf.Scalar {
  const record = peft.adapter(adapterName);
  const weight = (record.config as AdaLoraConfig).orth_reg_weight;
  return tf.tidy(() => {
    const terms: tf.Scalar[] = [];
    for (const { hook } of adaLoraModules(record)) {
      if (hook.r === 0) continue;
      terms.push(orthogonalityGap(hook.loraA, 'A'), orthogonalityGap(hook.loraB, 'B'));
    }
    if (terms.length === 0) return tf.scalar(0);
    return tf.mul(tf.div(tf.addN(terms), terms.length), weight) as tf.Scalar;
  });
}

/**
 * AdaLoRA (Zhang et al., 2023): LoRA in SVD form ΔW = B·(A⊙E)·α/ranknum whose ranks are pruned
 * to a budget by importance during training. With `@peftjs/train`'s Trainer, the orthogonal
 * regulariser and the rank allocator run by themselves.
 */
export const adalora = definePeftMethod<AdaLoraConfig>({
  meta: {
    name: 'AdaLoRA',
    packageName: '@peftjs/adalora',
    reference: 'Zhang et al., AdaLoRA: Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning, ICLR 2023 (arXiv:2303.10512)',
  },
  type: 'ADALORA',
  sites: ['linear'],
  config: {
    parse: parseAdaLoraConfig,
    toJSON: adaLoraConfigToJSON,
    fields: ADALORA_FIELDS.fields,
    floatFields: ADALORA_FIELDS.floatFields,
  },
  hooks: {
    inject(ctx, config) {
      config.target_modules = ctx.resolveTargetModules(config.target_modules);
      const targets = ctx.selectLinear({
        targetModules: config.target_modules,
        layersToTransform: config.layers_to_transform,
        layersPattern: config.layers_pattern,
      });
      for (const { path, module } of targets) {
        if (module.layout === 'embedding') {
          throw new Error(`AdaLoRA target_modules: ${path} is an Embedding; AdaLoRA adapts Linear and Conv1D layers only`);
        }
        // PEFT: Conv1D targets force fan_in_fan_out on, Linear targets off.
        config.fan_in_fan_out = module.layout === 'conv1d';
        const mask = rankMask(config.rank_pattern, path, ctx.adapterName);
        const r = mask ? mask.filter(Boolean).length : config.init_r;
        const hook = new AdaLoraHook(module, {
          r,
          rankNum: config.init_r,
          loraAlpha: config.lora_alpha > 0 ? config.lora_alpha : config.init_r,
          dropout: config.lora_dropout,
          init: config.init_lora_weights,
          rng: ctx.rng,
        });
        ctx.attach(module.peft, hook, hook.params);
      }
    },
  },
  state: { save: adaLoraState, load: loadAdaLoraState },
  training: {
    extraLoss: (ctx) => orthogonalRegularization(ctx.model, ctx.adapterName),
    onGradients: (grads, ctx) => void updateAndAllocate(ctx.model, ctx.adapterName!, grads, ctx.step, { totalSteps: ctx.totalSteps }),
  },
});
