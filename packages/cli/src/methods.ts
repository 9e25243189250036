import { registry, type PeftMethod, type PeftRegistry } from '@peftjs/core';
import { UsageError } from './errors.js';

/** Our method packages by short name; any other npm package that exports a method works too. */
export const METHOD_PACKAGES: Record<string, string> = {
  lora: '@peftjs/lora',
  adalora: '@peftjs/adalora',
  prompt: '@peftjs/prompt',
  prefix: '@peftjs/prefix',
  ptuning: '@peftjs/ptuning',
  adapter: '@peftjs/adapter',
};

const TYPE_TO_NAME: Record<string, string> = {
  LORA: 'lora',
  ADALORA: 'adalora',
  PROMPT_TUNING: 'prompt',
  PREFIX_TUNING: 'prefix',
  P_TUNING: 'ptuning',
  BOTTLENECK_ADAPTER: 'adapter',
};

function methodsIn(mod: Record<string, unknown>): PeftMethod[] {
  return Object.values(mod).filter((v): v is PeftMethod => !!v && typeof v === 'object' && (v as PeftMethod).__peftMethod === true);
}

/**
 * Finds and registers a method by short name (`lora`), `peft_type` (`LORA`) or package name.
 * An uninstalled one is a usage error saying what to install.
 */
export async function loadMethod(nameOrType: string, reg: PeftRegistry = registry): Promise<PeftMethod> {
  const short = TYPE_TO_NAME[nameOrType] ?? nameOrType.toLowerCase();
  const pkg = METHOD_PACKAGES[short] ?? nameOrType;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pkg)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (package|module)/.test(String(e))) {
      throw new UsageError(`method "${nameOrType}" is not installed: install ${pkg} (npm install ${pkg})`);
    }
    throw e;
  }
  const found = methodsIn(mod);
  const wantType = Object.entries(TYPE_TO_NAME).find(([, n]) => n === short)?.[0];
  const method = found.find((m) => m.type === (wantType ?? nameOrType)) ?? found[0];
  if (!method) throw new UsageError(`${pkg} exports no PEFT method (definePeftMethod value)`);
  reg.use(method);
  return method;
}

/** Registers every installed first-party method (to load adapters by their saved peft_type). */
export async function loadMethodForType(peftType: string, reg: PeftRegistry = registry): Promise<PeftMethod> {
  if (reg.has(peftType)) return reg.get(peftType);
  if (!TYPE_TO_NAME[peftType]) throw new UsageError(`adapter peft_type "${peftType}" has no known package; register its method in code`);
  return loadMethod(peftType, reg);
}

/** Which of our method packages are installed here. */
export async function installedMethods(): Promise<string[]> {
  const out: string[] = [];
  for (const [name, pkg] of Object.entries(METHOD_PACKAGES)) {
    try {
      await import(pkg);
      out.push(name);
    } catch {
      /* not installed */
    }
  }
  return out;
}
