// The config field kit: a method declares its `adapter_config.json` fields once (type, PEFT's
// default, range) and gets parsing, defaults, the list of accepted names and Python's float
// fields from it. Errors read `<Method> <field> must be …, got <value>`.
import type { PeftConfigBase } from './method.js';

/** Throws `<Method> <field> <problem>`. */
export type FieldError = (field: string, problem: string) => never;

/** One config field: PEFT's default and how a value is checked (and normalised). */
export interface Field<T> {
  /** PEFT's default; undefined for a required field (`field.required`). */
  readonly default: T | undefined;
  /** Returns the value to keep; `fail(problem, at?)` throws naming the method and the field (or `at`, e.g. `rank_pattern["q"]`). */
  check(value: unknown, fail: (problem: string, at?: string) => never, field: string): T;
  /** Python writes it as a float (`0.0`, not `0`). */
  readonly float?: boolean;
}

type Nullable = { nullable?: boolean };

/** A JSON rendering of a value for error messages. */
export function showValue(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v); // JSON writes NaN and Infinity as null
  return JSON.stringify(v) ?? String(v);
}

function got(v: unknown): string {
  return `, got ${showValue(v)}`;
}

/** `"a", "b" or "c"`; a long list reads `one of a, b, c`. */
function choices(values: readonly unknown[]): string {
  if (values.length > 4) return `one of ${values.join(', ')}`;
  const shown = values.map((v) => (typeof v === 'string' ? `"${v}"` : String(v)));
  return shown.length === 1 ? shown[0] : `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}`;
}

function make<T>(
  def: T,
  test: (v: unknown) => boolean,
  what: string,
  opts: Nullable & { float?: boolean; copy?: (v: T) => T } = {},
): Field<T> {
  return {
    default: def,
    float: opts.float,
    check(v, fail) {
      if (v == null && opts.nullable) return null as T;
      if (!test(v)) fail(`must be ${what}${opts.nullable ? ' or null' : ''}${got(v)}`);
      return opts.copy ? opts.copy(v as T) : (v as T); // `test` passed: v is a T
    },
  };
}

const isInt = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;
const isStringList = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');

interface Range {
  /** Bounds; `minOpen`/`maxOpen` exclude them. */
  min?: number;
  max?: number;
  minOpen?: boolean;
  maxOpen?: boolean;
}

function inRange(v: unknown, r: Range): boolean {
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (r.min !== undefined && (r.minOpen ? !(v > r.min) : !(v >= r.min))) return false;
  if (r.max !== undefined && (r.maxOpen ? !(v < r.max) : !(v <= r.max))) return false;
  return true;
}

function describeRange(r: Range): string {
  if (r.min === undefined && r.max === undefined) return 'a finite number';
  if (r.max === undefined) return r.minOpen ? `greater than ${r.min}` : `a number ≥ ${r.min}`;
  return `a number in ${r.minOpen ? '(' : '['}${r.min ?? '-∞'}, ${r.max}${r.maxOpen ? ')' : ']'}`;
}

/** The field types PEFT's configs use. */
export const field = {
  /** An integer ≥ 1 (`r`, `num_virtual_tokens`). */
  positiveInt: <N extends number | null = number>(def: N, opts: Nullable = {}): Field<N> =>
    make(def, (v) => isInt(v, 1), 'a positive integer', opts),
  /** An integer ≥ 0. */
  nonNegativeInt: <N extends number | null = number>(def: N, opts: Nullable = {}): Field<N> =>
    make(def, (v) => isInt(v, 0), 'a non-negative integer', opts),
  /** A float in a range (written as a Python float): `field.float(0, { min: 0, max: 1, maxOpen: true })` is [0, 1). */
  float: (def: number, range: Range = {}): Field<number> => make(def, (v) => inRange(v, range), describeRange(range), { float: true }),
  /** A finite number Python writes as it was given (`lora_alpha: 16`). */
  number: (def: number): Field<number> => make(def, (v) => inRange(v, {}), 'a finite number'),
  bool: (def: boolean): Field<boolean> => make(def, (v) => typeof v === 'boolean', 'true or false'),
  /** One of a few values (strings, booleans, null): `field.oneOf(['none', 'all'] as const, 'none')`. */
  oneOf: <const V extends readonly (string | boolean | null)[]>(values: V, def: V[number]): Field<V[number]> =>
    make(def, (v) => values.includes(v as V[number]), choices(values)),
  /** A string, or null when nullable. */
  string: <S extends string | null = string>(def: S, opts: Nullable = {}): Field<S> =>
    make(def, (v) => typeof v === 'string', 'a string', opts),
  /** A module selector: a regex string or a list of names (`target_modules`); null by default. */
  stringOrList: (def: string | string[] | null = null): Field<string | string[] | null> =>
    make(def, (v) => typeof v === 'string' || isStringList(v), 'a string or a list of strings', {
      nullable: true,
      copy: (v) => (Array.isArray(v) ? [...v] : v),
    }),
  /** A list of module names (`modules_to_save`); null by default. */
  moduleList: (): Field<string[] | null> =>
    make(null as string[] | null, isStringList, 'a list of module names', { nullable: true, copy: (v) => (v ? [...v] : v) }),
  /** A layer index or a list of them (`layers_to_transform`); null by default. */
  layerIndices: (): Field<number | number[] | null> =>
    make(
      null as number | number[] | null,
      (v) => Number.isInteger(v) || (Array.isArray(v) && v.every((n) => isInt(n, 0))),
      'a layer index or a list of them',
      {
        nullable: true,
        copy: (v) => (Array.isArray(v) ? [...v] : v),
      },
    ),
  /** A pattern map `{ key: value }` (`rank_pattern`, `alpha_pattern`); null reads as `{}`. Errors name `field["key"]`. */
  patternMap: <V>(value: Field<V>): Field<Record<string, V>> => ({
    default: {},
    check(v, fail, name) {
      if (v == null) return {};
      if (typeof v !== 'object' || Array.isArray(v)) fail(`must be an object of name → value${got(v)}`);
      const out: Record<string, V> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const at = `${name}["${k}"]`;
        out[k] = value.check(x, (problem) => fail(problem.replace(/ or null(?=, got)/, ''), at), at);
      }
      return out;
    },
  }),
  /** The field without a default: missing, it fails its check (`num_virtual_tokens`). */
  required: <T>(f: Field<T>): Field<T> => ({ ...f, default: undefined }),
  /** A value kept as it is (PEFT fields without behaviour here), with PEFT's default. */
  keep: <T>(def: T): Field<T> => ({ default: def, check: (v) => v as T }),
  /** A field with its own check: `field.custom(def, (v, fail) => …)`. */
  custom: <T>(def: T, check: Field<T>['check'], opts: { float?: boolean } = {}): Field<T> => ({ default: def, check, float: opts.float }),
};

/** PEFT's `PeftConfig` fields, checked once where an adapter is added (`PeftModel.addAdapter`). */
export const BASE_CONFIG_FIELDS = {
  task_type: field.string(null as string | null, { nullable: true }),
  base_model_name_or_path: field.string(null as string | null, { nullable: true }),
  revision: field.string(null as string | null, { nullable: true }),
  inference_mode: field.bool(false),
} as const;

/** Every base field plus `modules_to_save` (which core acts on) and `peft_type`: names any config may carry. */
const CORE_NAMES = ['peft_type', ...Object.keys(BASE_CONFIG_FIELDS), 'modules_to_save'];

type Fields = Record<string, Field<unknown>>;
type ValuesOf<F extends Fields> = { -readonly [K in keyof F]: F[K] extends Field<infer T> ? T : never };

/** A method's declared config: parse, defaults, accepted names and float fields, from one table. */
export interface ConfigKit<F extends Fields, T extends string = string> {
  /** The method's human name, first word of every error (`LoRA`). */
  readonly method: string;
  readonly peftType: T;
  /** PEFT's defaults of the declared fields. */
  readonly defaults: ValuesOf<F>;
  /** Every field name a config of this method accepts: PEFT's base fields, the declared ones and `keep`-only ones. */
  readonly fields: readonly string[];
  /** Fields Python writes as floats. */
  readonly floatFields: readonly string[];
  readonly fail: FieldError;
  /**
   * `raw` with PEFT's defaults filled and every declared field checked. Keys that are not declared
   * are kept as they are (a file from a newer PEFT is written back with them); `PeftModel.addAdapter`
   * refuses them in a config given in code.
   */
  parse(raw: Record<string, unknown>): ConfigValues<F, T>;
}

/** A parsed config of declared fields `F` and `peft_type` `T`. */
export type ConfigValues<F extends Fields, T extends string> = ValuesOf<F> & PeftConfigBase & { peft_type: T };

/** The config type a kit parses: `export type Ia3Config = ConfigOf<typeof IA3_FIELDS>`. */
export type ConfigOf<K> = K extends ConfigKit<infer F, infer T> ? ConfigValues<F, T> : never;

/**
 * Declares a method's config fields once:
 * `const LORA = defineConfigFields('LoRA', 'LORA', { r: field.positiveInt(8), lora_dropout: field.float(0, { min: 0, max: 1, maxOpen: true }) })`.
 * Base fields (`task_type`, `base_model_name_or_path`, `revision`, `inference_mode`) get PEFT's
 * defaults; `extra` names more accepted fields without checks (`keep` defaults).
 */
export function defineConfigFields<F extends Fields, const T extends string>(method: string, peftType: T, fields: F): ConfigKit<F, T> {
  const fail: FieldError = (name, problem) => {
    throw new Error(`${method} ${name} ${problem}`);
  };
  const defaults = Object.fromEntries(
    Object.entries(fields)
      .filter(([, f]) => f.default !== undefined)
      .map(([k, f]) => [k, structuredClone(f.default)]),
  ) as ValuesOf<F>;
  const baseDefaults = Object.fromEntries(Object.entries(BASE_CONFIG_FIELDS).map(([k, f]) => [k, f.default]));
  return {
    method,
    peftType,
    defaults,
    fields: [...new Set([...CORE_NAMES, ...Object.keys(fields)])],
    floatFields: Object.entries(fields)
      .filter(([, f]) => f.float)
      .map(([k]) => k),
    fail,
    parse(raw) {
      if (raw.peft_type !== undefined && raw.peft_type !== peftType) fail('peft_type', `must be "${peftType}"${got(raw.peft_type)}`);
      const c: Record<string, unknown> = { ...baseDefaults, ...structuredClone(defaults), ...raw, peft_type: peftType };
      for (const [name, f] of Object.entries(fields)) {
        const v = f.check(c[name], (problem, at) => fail(at ?? name, problem), name);
        if (v !== undefined || name in c) c[name] = v; // a `keep` field without a value stays absent
      }
      return c as ConfigValues<F, T>;
    },
  };
}

/**
 * Checks PEFT's base fields (and `modules_to_save`, which core acts on) of a parsed config; errors
 * name the method and the field. Called once, where an adapter is added.
 */
export function checkBaseFields(method: string, config: PeftConfigBase): void {
  const fail: FieldError = (name, problem) => {
    throw new Error(`${method} ${name} ${problem}`);
  };
  for (const [name, f] of Object.entries(BASE_CONFIG_FIELDS)) {
    if (config[name] !== undefined) f.check(config[name], (problem) => fail(name, problem), name);
  }
  if (config.modules_to_save != null)
    field.moduleList().check(config.modules_to_save, (problem) => fail('modules_to_save', problem), 'modules_to_save');
}

/**
 * Refuses keys a method does not accept, naming the closest accepted ones (`--lora-aplha` → `lora_alpha`).
 * For configs given in code; a config read from a file keeps unknown keys (newer PEFT versions).
 */
export function checkKnownFields(
  method: string,
  config: Record<string, unknown>,
  accepted: readonly string[],
  closest: (wanted: string, names: readonly string[]) => string[],
): void {
  const known = new Set(accepted);
  for (const key of Object.keys(config)) {
    if (known.has(key)) continue;
    const near = closest(key, accepted);
    throw new Error(`${method} config: unknown field "${key}"${near.length ? `; did you mean ${near.join(', ')}?` : ''}`);
  }
}
