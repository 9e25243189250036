import { describe, expect, it } from 'vitest';
import { Module, PeftRegistry, definePeftMethod, registry } from '../src/index.js';

const make = (pkg: string, name = 'Thing') =>
  definePeftMethod({
    meta: { name, packageName: pkg },
    type: 'THING',
    prefix: 'thing_',
    sites: ['linear'],
    config: { parse: (raw) => ({ ...raw, peft_type: 'THING' }) },
    hooks: { inject: () => undefined },
  });

describe('method registry', () => {
  it('use() registers explicitly and get() returns the method', () => {
    const r = new PeftRegistry();
    const m = make('pkg-a');
    r.use(m);
    expect(r.get('THING')).toBe(m);
    expect(r.use(m).list()).toHaveLength(1);
  });

  it('an unknown first-party peft_type says which package to install', () => {
    expect(() => new PeftRegistry().get('PREFIX_TUNING')).toThrow(/install @peftjs\/prefix/);
    expect(() => new PeftRegistry().get('NOPE')).toThrow(/Unknown peft_type "NOPE"/);
  });

  it('two different methods claiming one peft_type is an error naming both', () => {
    const r = new PeftRegistry().use(make('pkg-a', 'A'));
    expect(() => r.use(make('pkg-b', 'B'))).toThrow('peft_type "THING" is already registered by A (pkg-a); B (pkg-b) cannot claim it too');
  });

  it('the default registry lives on globalThis so that two copies of core share it', () => {
    const g = globalThis as unknown as Record<symbol, unknown>;
    expect(g[Symbol.for('@peftjs/core/registry')]).toBe(registry);
  });

  it('definePeftMethod validates its definition', () => {
    expect(() => definePeftMethod({ ...make('x'), hooks: {} as never })).toThrow(/hooks.inject/);
    expect(new Module()).toBeInstanceOf(Module);
  });
});
