import { closestNames } from '@peftjs/core';
import { UsageError } from './errors.js';

/** The rule a number flag's value must meet (checked when the flag is read, named by the flag). */
export interface NumberRule {
  integer?: boolean;
  /** Smallest value allowed; with `exclusiveMin` the value must be above it. */
  min?: number;
  exclusiveMin?: boolean;
  max?: number;
}

/** One flag a command accepts: declared once, its value type derived from it (`FlagValues`). */
export interface FlagSpec {
  name: string;
  type: 'string' | 'number' | 'boolean' | 'list';
  description: string;
  default?: string | number | boolean;
  required?: boolean;
  /** One-letter alias. */
  alias?: string;
  /** Number flags: what a valid value is. */
  rule?: NumberRule;
  /** String flags: the values allowed. */
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: readonly FlagSpec[];
  /** Accept unknown `--foo-bar value` flags as method options (`foo_bar`); the command checks them. */
  passthrough?: boolean;
}

type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type ValueOf<F extends FlagSpec> = F['type'] extends 'number'
  ? number
  : F['type'] extends 'boolean'
    ? boolean
    : F['type'] extends 'list'
      ? string[]
      : F extends { choices: readonly (infer C)[] }
        ? C
        : string;
type Given<F> = F extends { required: true } | { default: string | number | boolean } ? true : false;

/** The typed values of a flag list (camelCased names; flags with a default or required are always set). */
export type FlagValues<Fs extends readonly FlagSpec[]> = {
  [F in Fs[number] as Given<F> extends true ? Camel<F['name']> : never]: ValueOf<F>;
} & {
  [F in Fs[number] as Given<F> extends true ? never : Camel<F['name']>]?: ValueOf<F>;
};

export interface ParsedArgs {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command reads its own typed view (FlagValues)
  flags: Record<string, any>;
  /** Unknown flags, snake_cased, values parsed as JSON where they look like it. */
  extra: Record<string, unknown>;
  /** The flag each `extra` key came from (`lora_alpha` → `--lora-alpha`), for error messages. */
  extraFlags: Record<string, string>;
  positional: string[];
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Parses a flag value the way a config field expects it: numbers, booleans, null, lists, JSON. */
export function parseLooseValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw === 'null') return null;
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(raw)) return Number(raw);
  if (/^[[{]/.test(raw)) {
    try {
      return JSON.parse(raw);
    } catch {
      throw new UsageError(`cannot parse ${raw} as JSON`);
    }
  }
  if (raw.includes(','))
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return raw;
}

/** "a number > 0", "an integer ≥ 1", "a number > 0 and ≤ 1". */
export function describeRule(rule: NumberRule): string {
  const parts: string[] = [];
  if (rule.min !== undefined) parts.push(`${rule.exclusiveMin ? '>' : '≥'} ${rule.min}`);
  if (rule.max !== undefined) parts.push(`≤ ${rule.max}`);
  return `${rule.integer ? 'an integer' : 'a number'}${parts.length ? ` ${parts.join(' and ')}` : ''}`;
}

function checkNumber(command: string, f: FlagSpec, raw: string): number {
  const n = Number(raw);
  const r = f.rule ?? {};
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(n) &&
    (!r.integer || Number.isInteger(n)) &&
    (r.min === undefined || (r.exclusiveMin ? n > r.min : n >= r.min)) &&
    (r.max === undefined || n <= r.max);
  if (!ok) throw new UsageError(`${command}: --${f.name} must be ${describeRule(r)}, got "${raw}"`);
  return n;
}

/** The flag's value from its raw text: checked against its type, rule and choices. */
function flagValue(command: string, f: FlagSpec, raw: string): unknown {
  if (f.type === 'number') return checkNumber(command, f, raw);
  if (f.type === 'list')
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (f.choices && !f.choices.includes(raw)) throw new UsageError(`${command}: --${f.name} must be ${f.choices.join(', ')}; got "${raw}"`);
  return raw;
}

/** `--name`, `--name=value` or `-a` → the flag's name and an inline value. */
function splitOption(spec: CommandSpec, a: string): { name: string; inline?: string } {
  if (a.startsWith('--')) {
    const eq = a.indexOf('=');
    return eq > 0 ? { name: a.slice(2, eq), inline: a.slice(eq + 1) } : { name: a.slice(2) };
  }
  const f = spec.flags.find((x) => x.alias === a.slice(1));
  if (!f) throw new UsageError(`${spec.name}: unknown option ${a} (see peft ${spec.name} --help)`);
  return { name: f.name };
}

/** An option that is no flag: a usage error naming the closest flags. */
export function unknownOption(spec: CommandSpec, option: string, alsoValid: readonly string[] = []): UsageError {
  const names = [...spec.flags.map((f) => f.name), ...alsoValid];
  const close = closestNames([option], names, 3).filter((n) => n.length > 1);
  const hint = close.length ? `; did you mean ${close.map((n) => `--${n}`).join(', ')}?` : '';
  return new UsageError(`${spec.name}: unknown option --${option}${hint} (see peft ${spec.name} --help)`);
}

/**
 * Reads argv against a command's flags: each value checked with its flag's name (a usage error,
 * exit 2); unknown `--name value` options go to `extra` when the command passes them through.
 */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  const out: ParsedArgs = { flags, extra: {}, extraFlags: {}, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
      out.positional.push(a);
      continue;
    }
    const { name, inline } = splitOption(spec, a);
    const f =
      spec.flags.find((x) => x.name === name) ??
      (name.startsWith('no-') ? spec.flags.find((x) => x.name === name.slice(3) && x.type === 'boolean') : undefined);
    if (f?.type === 'boolean') {
      flags[camel(f.name)] = inline !== undefined ? inline !== 'false' : !name.startsWith('no-');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--')))
      throw new UsageError(`${spec.name}: --${f?.name ?? name} needs a value`);
    if (f) flags[camel(f.name)] = flagValue(spec.name, f, value);
    else if (spec.passthrough) {
      out.extra[name.replace(/-/g, '_')] = parseLooseValue(value);
      out.extraFlags[name.replace(/-/g, '_')] = name;
    } else throw unknownOption(spec, name);
  }
  for (const f of spec.flags) {
    const k = camel(f.name);
    if (flags[k] === undefined && f.default !== undefined) flags[k] = f.default;
    if (flags[k] === undefined && f.required) throw new UsageError(`${spec.name}: --${f.name} is required (see peft ${spec.name} --help)`);
  }
  return out;
}

export function helpText(spec: CommandSpec): string {
  const lines = [`peft ${spec.name} — ${spec.summary}`, '', `Usage: ${spec.usage}`, '', 'Options:'];
  const left = (f: FlagSpec) =>
    `  --${f.name}${f.type === 'boolean' ? '' : ` <${f.type === 'list' ? 'a,b' : f.choices ? f.choices.join('|') : f.type}>`}`;
  const w = Math.max(...spec.flags.map((f) => left(f).length), 10) + 2;
  for (const f of spec.flags) {
    const def = f.default !== undefined ? ` (default: ${f.default})` : f.required ? ' (required)' : '';
    lines.push(`${left(f).padEnd(w)}${f.description}${def}`);
  }
  lines.push(`${'  --help'.padEnd(w)}Show this help`);
  if (spec.passthrough) {
    lines.push(
      '',
      "Method options: any other --name value is a field of the method's config (dashes become underscores),",
      'e.g. --r 8 --lora-alpha 16 --target-modules q_proj,v_proj --lora-dropout 0.05. A name that is neither',
      "a flag nor a field of the method's config is refused.",
    );
  }
  return lines.join('\n');
}
