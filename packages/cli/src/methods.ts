import { registry, type PeftMethod, type PeftRegistry } from '@peftjs/core';
import { UsageError } from './errors.js';

/** One of our method packages: the `--method` name, the `peft_type` it saves, the npm package. */
export interface MethodEntry {
  readonly name: string;
  readonly peftType: string;
  readonly packageName: string;
}

/**
 * Our methods, in the order help lists them: the one list `--method` values, help text and package
 * names derive from. Any other npm package that exports a method works too (`--method <package>`).
 */
export const METHODS: readonly MethodEntry[] = [
  { name: 'lora', peftType: 'LORA', packageName: '@peftjs/lora' },
  { name: 'prompt', peftType: 'PROMPT_TUNING', packageName: '@peftjs/prompt' },
  { name: 'prefix', peftType: 'PREFIX_TUNING', packageName: '@peftjs/prefix' },
  { name: 'ptuning', peftType: 'P_TUNING', packageName: '@peftjs/ptuning' },
  { name: 'adalora', peftType: 'ADALORA', packageName: '@peftjs/adalora' },
  { name: 'adapter', peftType: 'BOTTLENECK_ADAPTER', packageName: '@peftjs/adapter' },
];

/** Our method packages by `--method` name. */
export const METHOD_PACKAGES: Readonly<Record<string, string>> = Object.fromEntries(METHODS.map((m) => [m.name, m.packageName]));

/** The `--method` flag's help: `PEFT method: lora, prompt, …, or a package name`. */
export const METHOD_HELP = `PEFT method: ${METHODS.map((m) => m.name).join(', ')}, or a package name`;

/** How a package is imported (a parameter so that tests can leave packages out). */
export type Importer = (pkg: string) => Promise<Record<string, unknown>>;
const importPackage: Importer = (pkg) => import(pkg) as Promise<Record<string, unknown>>;

/** Our method by `--method` name, `peft_type` or package name. */
function entryOf(nameOrType: string): MethodEntry | undefined {
  return METHODS.find((m) => m.name === nameOrType.toLowerCase() || m.peftType === nameOrType || m.packageName === nameOrType);
}

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (package|module)/.test(String(e));
}

function methodsIn(mod: Record<string, unknown>): PeftMethod[] {
  return Object.values(mod).filter((v): v is PeftMethod => !!v && typeof v === 'object' && (v as PeftMethod).__peftMethod === true);
}

/** Which of our methods are installed here, and the packages that provide the others. */
export async function methodAvailability(importer: Importer = importPackage): Promise<{ installed: string[]; missing: MethodEntry[] }> {
  const installed: string[] = [];
  const missing: MethodEntry[] = [];
  for (const m of METHODS) {
    try {
      await importer(m.packageName);
      installed.push(m.name);
    } catch {
      missing.push(m);
    }
  }
  return { installed, missing };
}

/** The error for a `--method` that is neither ours nor an installed package: what is installed, and what provides the rest. */
async function unknownMethod(nameOrType: string, importer: Importer): Promise<UsageError> {
  const { installed, missing } = await methodAvailability(importer);
  const others = missing.length ? `; the others are in ${missing.map((m) => `${m.packageName} (${m.name})`).join(', ')}` : '';
  return new UsageError(
    `method "${nameOrType}" is not installed: installed methods: ${installed.join(', ') || 'none'}${others}. ` +
      `A method from another package: install it (npm install ${nameOrType}) and pass its package name.`,
  );
}

/**
 * Finds and registers a method by `--method` name (`lora`), `peft_type` (`LORA`) or package name.
 * One that is not installed is a usage error listing the installed methods and the packages of the others.
 */
export async function loadMethod(
  nameOrType: string,
  reg: PeftRegistry = registry,
  importer: Importer = importPackage,
): Promise<PeftMethod> {
  const entry = entryOf(nameOrType);
  const pkg = entry?.packageName ?? nameOrType;
  let mod: Record<string, unknown>;
  try {
    mod = await importer(pkg);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    if (entry) throw new UsageError(`method "${nameOrType}" is not installed: install ${pkg} (npm install ${pkg})`);
    throw await unknownMethod(nameOrType, importer);
  }
  const found = methodsIn(mod);
  const method = found.find((m) => m.type === (entry?.peftType ?? nameOrType)) ?? found[0];
  if (!method) throw new UsageError(`${pkg} exports no PEFT method (definePeftMethod value)`);
  reg.use(method);
  return method;
}

/** Registers the method of a saved `peft_type` (to load an adapter), when it is one of ours. */
export async function loadMethodForType(peftType: string, reg: PeftRegistry = registry): Promise<PeftMethod> {
  if (reg.has(peftType)) return reg.get(peftType);
  if (!METHODS.some((m) => m.peftType === peftType))
    throw new UsageError(`adapter peft_type "${peftType}" has no known package; register its method in code`);
  return loadMethod(peftType, reg);
}

/** Which of our method packages are installed here. */
export async function installedMethods(): Promise<string[]> {
  return (await methodAvailability()).installed;
}
