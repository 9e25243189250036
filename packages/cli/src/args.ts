import { UsageError } from './errors.js';

/** One flag a command accepts. */
export interface FlagSpec {
  name: string;
  type: 'string' | 'number' | 'boolean' | 'list';
  description: string;
  default?: string | number | boolean;
  required?: boolean;
  /** One-letter alias. */
  alias?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpec[];
  /** Accept unknown `--foo-bar value` flags as method options (`foo_bar`). */
  passthrough?: boolean;
}

export interface ParsedArgs {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command reads its own typed view
  flags: Record<string, any>;
  /** Unknown flags, snake_cased, values parsed as JSON where they look like it. */
  extra: Record<string, unknown>;
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
  if (raw.includes(',')) return raw.split(',').map((s) => s.trim()).filter(Boolean);
  return raw;
}

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const byAlias = new Map(spec.flags.filter((f) => f.alias).map((f) => [f.alias!, f]));
  const flags: ParsedArgs['flags'] = {};
  const extra: Record<string, unknown> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq > 0 ? a.slice(eq + 1) : undefined;
    } else {
      const f = byAlias.get(a.slice(1));
      if (!f) throw new UsageError(`${spec.name}: unknown option ${a} (see peft ${spec.name} --help)`);
      name = f.name;
    }
    const f = byName.get(name) ?? (name.startsWith('no-') ? byName.get(name.slice(3)) : undefined);
    if (!f) {
      if (!spec.passthrough) throw new UsageError(`${spec.name}: unknown option --${name} (see peft ${spec.name} --help)`);
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`${spec.name}: --${name} needs a value`);
      extra[name.replace(/-/g, '_')] = parseLooseValue(value);
      continue;
    }
    if (f.type === 'boolean') {
      flags[camel(f.name)] = inline !== undefined ? inline !== 'false' : !name.startsWith('no-');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new UsageError(`${spec.name}: --${f.name} needs a value`);
    if (f.type === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new UsageError(`${spec.name}: --${f.name} must be a number, got "${value}"`);
      flags[camel(f.name)] = n;
    } else if (f.type === 'list') {
      flags[camel(f.name)] = value.split(',').map((s) => s.trim()).filter(Boolean);
    } else {
      flags[camel(f.name)] = value;
    }
  }
  for (const f of spec.flags) {
    const k = camel(f.name);
    if (flags[k] === undefined && f.default !== undefined) flags[k] = f.default;
    if (flags[k] === undefined && f.required) throw new UsageError(`${spec.name}: --${f.name} is required (see peft ${spec.name} --help)`);
  }
  return { flags, extra, positional };
}

export function helpText(spec: CommandSpec): string {
  const lines = [`peft ${spec.name} — ${spec.summary}`, '', `Usage: ${spec.usage}`, '', 'Options:'];
  const w = Math.max(...spec.flags.map((f) => f.name.length + (f.type === 'boolean' ? 0 : 8)), 10) + 4;
  for (const f of spec.flags) {
    const left = `  --${f.name}${f.type === 'boolean' ? '' : ` <${f.type === 'list' ? 'a,b' : f.type}>`}`;
    const def = f.default !== undefined ? ` (default: ${f.default})` : f.required ? ' (required)' : '';
    lines.push(`${left.padEnd(w)}${f.description}${def}`);
  }
  lines.push(`${'  --help'.padEnd(w)}Show this help`);
  if (spec.passthrough) {
    lines.push('', 'Method options: any other --name value is passed to the method config as name (dashes become', 'underscores), e.g. --r 8 --lora-alpha 16 --target-modules q_proj,v_proj --lora-dropout 0.05.');
  }
  return lines.join('\n');
}
