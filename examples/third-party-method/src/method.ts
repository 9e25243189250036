import { definePeftMethod } from '@peftjs/core';
import { IA3_DEFAULT_MODULES, IA3_FIELDS, parseIa3Config, type Ia3Config } from './config.js';
import { Ia3Hook } from './layer.js';

/** PEFT: a regex full match, or any module path ending with a listed name. */
function isFeedforward(path: string, ff: string | string[] | null): boolean {
  if (ff == null) return false;
  return typeof ff === 'string' ? new RegExp(`^(?:${ff})$`).test(path) : ff.some((name) => path.endsWith(name));
}

/** (IA)³ (Liu et al., 2022): learned vectors that rescale activations of the targeted layers. */
export const ia3 = definePeftMethod<Ia3Config>({
  meta: {
    name: '(IA)³',
    packageName: '@peftjs/example-ia3',
    reference: 'Liu et al., Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning, arXiv:2205.05638',
  },
  type: 'IA3',
  sites: ['linear'],
  config: { parse: parseIa3Config, fields: IA3_FIELDS.fields },
  hooks: {
    inject(ctx, config) {
      const defaults = IA3_DEFAULT_MODULES[ctx.dims.modelType];
      if (config.target_modules == null) {
        if (!defaults) throw new Error(`IA3 target_modules must be set: no default targets for model type "${ctx.dims.modelType}"`);
        config.target_modules = [...defaults.target];
      }
      config.feedforward_modules ??= defaults ? [...defaults.feedforward] : [];
      for (const { path, module } of ctx.selectLinear({ targetModules: config.target_modules })) {
        if (module.layout === 'embedding')
          throw new Error(`IA3 target_modules: ${path} is an Embedding; (IA)³ adapts Linear and Conv1D layers`);
        config.fan_in_fan_out = module.layout === 'conv1d'; // as PEFT corrects it, with a warning
        const hook = new Ia3Hook(module, isFeedforward(path, config.feedforward_modules), config.init_ia3_weights, ctx.rng);
        ctx.attach(module.peft, hook, hook.params);
      }
    },
  },
});
