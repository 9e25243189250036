import type { PeftConfigBase, PeftMethod } from './method.js';

/** The methods a PeftModel can create or load, by `peft_type`. */
export class PeftRegistry {
  private readonly methods = new Map<string, PeftMethod<PeftConfigBase>>();

  /** Registers a method. Registering the same method twice is a no-op; a different one for a taken type is an error. */
  use<C extends PeftConfigBase>(method: PeftMethod<C>): this {
    if (!method || method.__peftMethod !== true) {
      throw new Error('registry.use() takes a method made with definePeftMethod()');
    }
    const existing = this.methods.get(method.type);
    if (existing && existing !== (method as unknown)) {
      if (existing.meta.packageName === method.meta.packageName && existing.meta.name === method.meta.name) {
        // Two copies of the same package (e.g. ESM and CJS builds): keep the first.
        return this;
      }
      throw new Error(
        `peft_type "${method.type}" is already registered by ${existing.meta.name} (${existing.meta.packageName}); ` +
          `${method.meta.name} (${method.meta.packageName}) cannot claim it too`,
      );
    }
    // PeftMethod<C> is invariant in C (its config is both parsed and consumed); stored as the base type, narrowed by peft_type.
    this.methods.set(method.type, method as unknown as PeftMethod<PeftConfigBase>);
    return this;
  }

  has(type: string): boolean {
    return this.methods.has(type);
  }

  /** The method for a `peft_type`; an unknown type is an error saying how to register one. */
  get(type: string): PeftMethod<PeftConfigBase> {
    const m = this.methods.get(type);
    if (m) return m;
    const known = [...this.methods.keys()].join(', ') || 'none';
    throw new Error(
      `Unknown peft_type "${type}": no registered method provides it. Install the package that provides it and register its method ` +
        `(registry.use(method), or import the package's "/register" entry). Registered: ${known}`,
    );
  }

  list(): Array<PeftMethod<PeftConfigBase>> {
    return [...this.methods.values()];
  }

  /** Removes a method (tests). */
  delete(type: string): boolean {
    return this.methods.delete(type);
  }
}

const KEY = Symbol.for('@peftjs/core/registry');

/** The default registry, kept on `globalThis` so that two copies of core share it. */
export const registry: PeftRegistry = (() => {
  const g = globalThis as typeof globalThis & Record<symbol, PeftRegistry | undefined>;
  const existing = g[KEY];
  if (existing && typeof existing.use === 'function') return existing;
  const r = new PeftRegistry();
  g[KEY] = r;
  return r;
})();
