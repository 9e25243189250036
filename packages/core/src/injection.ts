// The injection context: what a method's `inject` hook sees of the model while one adapter is
// added (its sizes, linear targets, typed sites) and how its hooks are attached.
import { LinearLike } from './nn/layers.js';
import type { Rng } from './random.js';
import { allLinearNames, selectLinearTargets, type TargetRules } from './targets.js';
import type { PeftBaseModel, SiteKind, SiteSlot } from './sites.js';
import type { AdapterRecord, AttachedHook, InjectionContext, PeftMethod } from './method.js';

/** Throws naming the method and the model when the model lacks a site the method needs. */
export function checkSites(model: PeftBaseModel<never, unknown>, method: PeftMethod): void {
  const t = model.sites;
  const has: Record<SiteKind, boolean> = {
    linear: true,
    inputEmbeddings: !!t.inputEmbeddings,
    attentionKV: !!t.attentionKV?.length,
    sublayerOutput: !!t.sublayerOutput?.length,
  };
  for (const k of method.sites) {
    if (!has[k]) throw new Error(`${method.meta.name} needs the "${k}" site, which model ${model.dims.modelType} does not have`);
  }
}

/** The context `record.method.hooks.inject` runs with; every hook it attaches is recorded in `record`. */
export function injectionContext(model: PeftBaseModel<never, unknown>, record: AdapterRecord, rng: Rng): InjectionContext {
  const method = record.method;
  return {
    model,
    dims: model.dims,
    adapterName: record.name,
    rng,
    selectLinear: (rules: TargetRules, field?: string) =>
      selectLinearTargets(model, { outputHeadPaths: model.outputHeadPaths, ...rules }, { modelType: model.dims.modelType, field }).map(
        ([path, module]) => ({ path, module }),
      ),
    resolveTargetModules: (targets) => {
      if (targets == null) {
        const d = model.defaultTargetModules;
        if (!d?.length)
          throw new Error(`${method.meta.name} target_modules must be set: no default targets for model type "${model.dims.modelType}"`);
        return [...d];
      }
      if (targets === 'all-linear') return allLinearNames(model, model.outputHeadPaths ?? []);
      return typeof targets === 'string' ? targets : [...targets];
    },
    site: ((kind: Exclude<SiteKind, 'linear'>) => {
      const s = model.sites[kind];
      if (!s || (Array.isArray(s) && s.length === 0)) {
        throw new Error(`${method.meta.name} needs the "${kind}" site, which model ${model.dims.modelType} does not have`);
      }
      return s;
    }) as InjectionContext['site'],
    trainBaseParameter: (path: string, savedPath?: string) => {
      const v = model.namedParameters().find(([p]) => p === path)?.[1];
      if (!v) throw new Error(`${method.meta.name}: no parameter "${path}" in model ${model.dims.modelType}`);
      record.baseParameters.set(savedPath ?? path, v);
    },
    attach: (slot, hook, params, opts = {}) => {
      if ((slot.hooks as Map<string, unknown>).has(record.name)) {
        throw new Error(`Site ${slot.info.path} already has a hook for adapter "${record.name}"`);
      }
      (slot.hooks as Map<string, unknown>).set(record.name, hook);
      slot.hookParams.set(record.name, params);
      const keyPrefix = opts.keyPrefix ?? `${method.statePrefix}${slot.info.path}.`;
      record.hooks.push({ kind: slot.kind, slot: slot as SiteSlot, hook, params, keyPrefix } as AttachedHook);
    },
  };
}

/** Every site of a model: its linear layers' slots (their paths set from the module tree), then the declared ones. */
export function allSiteSlots(model: PeftBaseModel<never, unknown>): SiteSlot[] {
  const t = model.sites;
  const out: SiteSlot[] = [];
  for (const [path, m] of model.namedModules()) {
    if (m instanceof LinearLike) {
      m.peft.info.path = path;
      out.push(m.peft);
    }
  }
  if (t.inputEmbeddings) out.push(t.inputEmbeddings);
  out.push(...(t.attentionKV ?? []), ...(t.sublayerOutput ?? []));
  return out;
}
