import { describe, expect, it } from 'vitest';
import { PeftRegistry } from '@peftjs/core';
import { METHODS, METHOD_HELP, METHOD_PACKAGES, loadMethod } from '../src/methods.js';

/** Imports like Node, except that the packages in `absent` are not installed. */
const without =
  (...absent: string[]) =>
  async (pkg: string): Promise<Record<string, unknown>> => {
    if (absent.includes(pkg)) throw Object.assign(new Error(`Cannot find package '${pkg}'`), { code: 'ERR_MODULE_NOT_FOUND' });
    return (await import(pkg)) as Record<string, unknown>;
  };

describe('the method list', () => {
  it('help text and package names derive from the one list', () => {
    expect(METHOD_HELP).toBe(`PEFT method: ${METHODS.map((m) => m.name).join(', ')}, or a package name`);
    expect(Object.keys(METHOD_PACKAGES)).toEqual(METHODS.map((m) => m.name));
  });

  it('finds a method by name, peft_type or package name', async () => {
    for (const key of ['lora', 'LORA', '@peftjs/lora']) expect((await loadMethod(key, new PeftRegistry())).type).toBe('LORA');
  });

  it('--method lorax lists the installed methods and the packages that provide the others', async () => {
    const err = await loadMethod('lorax', new PeftRegistry(), without('lorax', '@peftjs/adalora', '@peftjs/adapter')).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain('method "lorax" is not installed: installed methods: lora, prompt, prefix, ptuning');
    expect(msg).toContain('the others are in @peftjs/adalora (adalora), @peftjs/adapter (adapter)');
  });

  it('one of ours that is not installed names its package', async () => {
    await expect(loadMethod('adalora', new PeftRegistry(), without('@peftjs/adalora'))).rejects.toThrow(
      'method "adalora" is not installed: install @peftjs/adalora',
    );
  });
});
