import type { PeftConfigBase, PeftMethod } from '@peftjs/core';
import { unknownOption, type CommandSpec } from './args.js';

type Json = Record<string, unknown>;

/** The config as the method writes it (every field PEFT writes), or undefined when it does not parse. */
function written(method: PeftMethod, raw: Json): Json | undefined {
  try {
    const parsed = method.config.parse(raw);
    return (method.config.toJSON ? method.config.toJSON(parsed) : parsed) as Json;
  } catch {
    return undefined;
  }
}

/**
 * Whether `key` is a field of the method's config: its declared `config.fields` when it has them
 * (every first-party method); for a method that declares none, the key is a field when the method
 * writes it though the user did not give it (a default), or when the config no longer parses
 * without it (a required field).
 */
function knownField(method: PeftMethod, config: Json, key: string): boolean {
  if (method.config.fields) return method.config.fields.includes(key);
  const { [key]: _given, ...rest } = config;
  const without = written(method, rest);
  return without === undefined || key in without;
}

/**
 * Refuses method options that are neither a flag of the command nor a field of the method's
 * config (PEFT refuses such an adapter_config.json), naming the closest flags and fields.
 * `flagOf` maps a config key back to the flag the user typed.
 */
export function checkMethodOptions(
  spec: CommandSpec,
  method: PeftMethod,
  config: PeftConfigBase,
  options: Json,
  flagOf: Record<string, string>,
): void {
  const unknown = Object.keys(options).filter((k) => !knownField(method, config, k));
  if (unknown.length === 0) return;
  const fields =
    method.config.fields ??
    Object.keys(written(method, Object.fromEntries(Object.entries(config).filter(([k]) => !unknown.includes(k)))) ?? {});
  const asFlags = fields.filter((k) => k !== 'peft_type').map((k) => k.replace(/_/g, '-'));
  const first = unknown[0];
  const err = unknownOption(spec, flagOf[first] ?? first.replace(/_/g, '-'), asFlags);
  err.message = `${err.message.replace(/ \(see peft .*\)$/, '')}: neither a peft ${spec.name} flag nor a ${method.meta.name} config field`;
  throw err;
}
