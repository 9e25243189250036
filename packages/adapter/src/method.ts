import * as tf from '@tensorflow/tfjs-core';
import { definePeftMethod, type AdapterRecord, type InjectionContext, type Module, type SiteSlot } from '@peftjs/core';
import {
  BOTTLENECK_ADAPTER,
  BOTTLENECK_FIELDS,
  bottleneckConfigToJSON,
  bottleneckSize,
  parseBottleneckConfig,
  type BottleneckConfig,
} from './config.js';
import { BottleneckAdapter } from './layer.js';

/** Why a bottleneck adapter cannot be merged (shown by `PeftModel.merge`). */
export const NOT_MERGEABLE =
  'a bottleneck adapter is a new non-linear block (down-projection, activation, up-projection) in the residual stream: it adds depth, so there is no weight delta to fold into the base weights';

/** A module of the model at `path`, or undefined. */
function moduleAt(model: Module, path: string): Module | undefined {
  try {
    return model.getModule(path);
  } catch {
    return undefined;
  }
}

/**
 * Where AdapterHub keeps the adapters of a site: a module that owns the sublayer's residual
 * LayerNorm (BERT's `…attention.output`, `…output`) holds them itself; otherwise the layer holds
 * `attention_adapters` and `output_adapters` (LLaMA's `model.layers.N`, GPT-2's `transformer.h.N`).
 * Saved names: `<this>.adapters.<adapter name>.adapter_down.0.weight`, `…adapter_up.weight`.
 */
export function adapterHubPrefix(model: Module, slot: SiteSlot<'sublayerOutput'>): string {
  const path = slot.info.path;
  if (moduleAt(model, `${path}.LayerNorm`)) return `${path}.`;
  const layer = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : path;
  return `${layer}.${slot.info.position === 'attention' ? 'attention_adapters' : 'output_adapters'}.`;
}

function inject(ctx: InjectionContext, config: BottleneckConfig): void {
  const { hiddenSize, numLayers, modelType } = ctx.dims;
  if (config.hidden_size != null && config.hidden_size !== hiddenSize) {
    throw new Error(`Bottleneck adapter hidden_size ${config.hidden_size} does not match model ${modelType} (hidden size ${hiddenSize})`);
  }
  const outside = config.leave_out.filter((l) => l >= numLayers);
  if (outside.length)
    throw new Error(`Bottleneck adapter leave_out ${JSON.stringify(outside)}: model ${modelType} has layers 0…${numLayers - 1}`);
  config.hidden_size = hiddenSize;
  config.model_type = modelType;
  config.name = ctx.adapterName;
  for (const slot of ctx.site('sublayerOutput')) {
    const layer = slot.info.layer ?? 0;
    const wanted = slot.info.position === 'attention' ? config.mh_adapter : config.output_adapter;
    if (!wanted || config.leave_out.includes(layer)) continue;
    const ln = moduleAt(ctx.model, `${slot.info.path}.LayerNorm`) as (Module & { forward(x: tf.Tensor): tf.Tensor }) | undefined;
    if (ln && !config.original_ln_after) {
      throw new Error(
        `Bottleneck adapter original_ln_after=false is not supported on ${modelType}: the model applies its LayerNorm after the ` +
          `sublayerOutput site (${slot.info.path}), so the adapter cannot skip it`,
      );
    }
    const hook = new BottleneckAdapter({
      hidden: hiddenSize,
      size: bottleneckSize(config, hiddenSize, layer),
      config,
      rng: ctx.rng,
      originalLayerNorm: ln ? (x) => ln.forward(x) : undefined,
    });
    ctx.attach(slot, hook, hook.params, { keyPrefix: `${adapterHubPrefix(ctx.model, slot)}adapters.` });
  }
}

/** `<prefix>adapters.<name>.<param>`: AdapterHub's names (the adapter name stays in them). */
function savedTensors(record: AdapterRecord): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const h of record.hooks) {
    for (const [p, v] of h.params.namedParameters()) out.set(`${h.keyPrefix}${record.name}.${p}`, v);
    // torch's state_dict lists the LayerNorm of `ln_before` twice: as adapter_norm_before and adapter_down.0
    const lnBefore = h.params.getModule('adapter_down').child('1') ? h.params.getModule('adapter_down.0') : undefined;
    for (const [p, v] of lnBefore?.ownParameters() ?? []) out.set(`${h.keyPrefix}${record.name}.adapter_norm_before.${p}`, v);
  }
  return out;
}

/**
 * Loads AdapterHub-named tensors whatever adapter name they were saved under (one per file).
 * Every name and shape is checked before anything changes.
 */
function loadTensors(record: AdapterRecord, tensors: Map<string, tf.Tensor>, file: string): void {
  const saved = new Set<string>();
  const renamed = new Map<string, tf.Tensor>();
  for (const [k, t] of tensors) {
    const m = /\.adapters\.([^.]+)\./.exec(k);
    if (m) saved.add(m[1]);
    renamed.set(m ? k.replace(m[0], `.adapters.${record.name}.`) : k, t);
  }
  if (saved.size > 1) throw new Error(`${file}: holds several adapters (${[...saved].join(', ')}); save one adapter per file`);
  const expected = savedTensors(record);
  const problems: string[] = [];
  for (const [k, v] of expected) {
    const t = renamed.get(k);
    if (!t) {
      if (!k.includes('.adapter_norm_before.')) problems.push(`missing ${k}`);
    } else if (t.shape.join() !== v.shape.join()) problems.push(`${k}: shape [${t.shape}] in file, [${v.shape}] expected`);
  }
  for (const k of renamed.keys()) if (!expected.has(k)) problems.push(`unexpected ${k}`);
  if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
  for (const [k, v] of expected) {
    const t = renamed.get(k);
    if (t && !k.includes('.adapter_norm_before.')) tf.tidy(() => (v as tf.Variable).assign(tf.cast(t, v.dtype)));
  }
}

/**
 * Bottleneck adapters (Houlsby et al., 2019; Pfeiffer et al., 2020; parallel: He et al., 2021) at the
 * `sublayerOutput` site, configured and saved as AdapterHub's `adapters` library does. Not a PEFT
 * method, so `peft_type` is this package's own `BOTTLENECK_ADAPTER`.
 */
export const bottleneckAdapter = definePeftMethod<BottleneckConfig>({
  meta: {
    name: 'Bottleneck adapter',
    packageName: '@peftjs/adapter',
    reference:
      'Houlsby et al., Parameter-Efficient Transfer Learning for NLP, ICML 2019 (arXiv:1902.00751); AdapterHub (adapters) for names and files',
  },
  type: BOTTLENECK_ADAPTER,
  sites: ['sublayerOutput'],
  statePrefix: '',
  notMergeable: NOT_MERGEABLE,
  config: {
    parse: parseBottleneckConfig,
    toJSON: bottleneckConfigToJSON,
    fields: BOTTLENECK_FIELDS.fields,
    floatFields: BOTTLENECK_FIELDS.floatFields,
  },
  hooks: { inject },
  state: { save: savedTensors, load: loadTensors },
});
