import { describe, expect, it } from 'vitest';
import { Module, PeftRegistry, definePeftMethod, registry } from '../src/index.js';

const make = (pkg: string, name = 'Thing') =>
  definePeftMethod({
    meta: { name, packageName: pkg },
    type: 'THING',
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

  it('an unknown peft_type says how to register a method and names no package of ours', () => {
    const err = () => new PeftRegistry().use(make('pkg-a')).get('PREFIX_TUNING');
    expect(err).toThrow(
      'Unknown peft_type "PREFIX_TUNING": no registered method provides it. Install the package that provides it and register its method',
    );
    expect(err).toThrow(/registry\.use\(method\).*Registered: THING$/);
    expect(err).not.toThrow(/@peftjs/);
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
