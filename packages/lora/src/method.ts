import { definePeftMethod } from '@peftjs/core';
import { LORA_FIELDS, loraConfigToJSON, parseLoraConfig, rankAndAlpha, type LoraConfig } from './config.js';
import { LoraHook } from './layer.js';
import { loraScaling } from './math.js';

/** LoRA (Hu et al., 2021): a trainable low-rank update B·A beside each targeted linear layer. */
export const lora = definePeftMethod<LoraConfig>({
  meta: {
    name: 'LoRA',
    packageName: '@peftjs/lora',
    reference: 'Hu et al., LoRA: Low-Rank Adaptation of Large Language Models, arXiv:2106.09685',
  },
  type: 'LORA',
  sites: ['linear'],
  config: { parse: parseLoraConfig, toJSON: loraConfigToJSON, fields: LORA_FIELDS.fields, floatFields: LORA_FIELDS.floatFields },
  hooks: {
    inject(ctx, config) {
      config.target_modules = ctx.resolveTargetModules(config.target_modules);
      const targets = ctx.selectLinear({
        targetModules: config.target_modules,
        excludeModules: config.exclude_modules,
        layersToTransform: config.layers_to_transform,
        layersPattern: config.layers_pattern,
      });
      for (const { path, module } of targets) {
        if (module.layout === 'conv1d' && !config.fan_in_fan_out) {
          // PEFT: "fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True."
          config.fan_in_fan_out = true;
        } else if (module.layout === 'linear' && config.fan_in_fan_out) {
          config.fan_in_fan_out = false;
        }
        const { r, alpha } = rankAndAlpha(config, path);
        const hook = new LoraHook(module, {
          r,
          scaling: loraScaling(alpha, r, config.use_rslora),
          dropout: config.lora_dropout,
          init: config.init_lora_weights,
          loraBias: config.lora_bias,
          rng: ctx.rng,
        });
        ctx.attach(module.peft, hook, hook.params);
        if (config.bias === 'lora_only' && module.bias) ctx.trainBaseParameter(`${path}.bias`, `${path}.base_layer.bias`);
      }
      if (config.bias === 'all') {
        const targeted = new Set(targets.map((t) => `${t.path}.bias`));
        for (const [p] of ctx.model.namedParameters()) {
          if (!p.includes('bias')) continue;
          ctx.trainBaseParameter(p, targeted.has(p) ? p.replace(/\.bias$/, '.base_layer.bias') : p);
        }
      }
    },
  },
});
