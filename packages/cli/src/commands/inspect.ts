import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { linearModules, readAdapterConfig } from '@peftjs/core';
import type { PretrainedModel } from '@peftjs/models';
import { readSafetensorsFile } from '@peftjs/core/io';
import type { CommandSpec, FlagSpec, FlagValues, ParsedArgs } from '../args.js';
import { loadBase, loadWithAdapter } from '../common.js';
import { UsageError } from '../errors.js';
import { installedMethods } from '../methods.js';
import { describeQuantization, quantizationSummary, type QuantizationSummary } from '../quantization.js';

export const inspectSpec = {
  name: 'inspect',
  summary: 'summarise a model folder or an adapter: sites, parameters, config',
  usage: 'peft inspect --model DIR [--adapter DIR] | --adapter DIR',
  flags: [
    { name: 'model', type: 'string', description: 'Hugging Face model folder' },
    { name: 'adapter', type: 'string', description: 'adapter folder (adapter_config.json + adapter_model.safetensors)' },
    { name: 'json', type: 'boolean', description: 'print JSON instead of text' },
  ] as const satisfies readonly FlagSpec[],
} satisfies CommandSpec;

interface AdapterInfo {
  peft_type: unknown;
  task_type: unknown;
  base_model_name_or_path: unknown;
  tensors: Array<{ name: string; dtype: string; shape: number[] }>;
  parameters: number;
  config: Record<string, unknown>;
}

interface ModelInfo {
  dims: Record<string, unknown>;
  parameters: number;
  sites: { linear: Record<string, number>; inputEmbeddings: number; attentionKV: number; sublayerOutput: number };
  outputHead: readonly string[];
  /** The 4-bit linears (bitsandbytes layout), or null for a float model. */
  quantization: QuantizationSummary | null;
}

/** The adapter's config and tensors (names, dtypes, shapes); a bad file is a usage error naming it. */
async function adapterInfo(adapter: string): Promise<AdapterInfo> {
  if (!existsSync(join(adapter, 'adapter_config.json'))) throw new UsageError(`--adapter ${adapter}: no adapter_config.json there`);
  const asUsage = <T>(f: () => Promise<T>) => f().catch((e: Error) => Promise.reject(new UsageError(`--adapter ${adapter}: ${e.message}`)));
  const cfg = await asUsage(() => readAdapterConfig(adapter));
  const file = await asUsage(() => readSafetensorsFile(join(adapter, 'adapter_model.safetensors')));
  const tensors = [...file.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
  return {
    peft_type: cfg.peft_type,
    task_type: cfg.task_type,
    base_model_name_or_path: cfg.base_model_name_or_path,
    tensors,
    parameters: tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0),
    config: cfg,
  };
}

function modelInfo(model: PretrainedModel): ModelInfo {
  const names = new Map<string, number>();
  for (const [p] of linearModules(model)) names.set(p.split('.').pop()!, (names.get(p.split('.').pop()!) ?? 0) + 1);
  return {
    dims: { ...model.dims },
    parameters: model.namedParameters().reduce((n, [, v]) => n + v.size, 0),
    sites: {
      linear: Object.fromEntries(names),
      inputEmbeddings: model.sites.inputEmbeddings ? 1 : 0,
      attentionKV: model.sites.attentionKV?.length ?? 0,
      sublayerOutput: model.sites.sublayerOutput?.length ?? 0,
    },
    outputHead: model.outputHeadPaths ?? [],
    quantization: quantizationSummary(model),
  };
}

function printInfo(
  out: (s: string) => void,
  f: InspectFlags,
  info: { model?: ModelInfo; adapter?: AdapterInfo; trainable?: string; installedMethods: string[] },
): void {
  const m = info.model;
  if (m) {
    out(`model: ${f.model}`);
    out(
      `  ${Object.entries(m.dims)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    out(`  parameters: ${m.parameters.toLocaleString('en-US')}`);
    out(
      `  sites: linear ${JSON.stringify(m.sites.linear)}, inputEmbeddings ${m.sites.inputEmbeddings}, attentionKV ${m.sites.attentionKV}, sublayerOutput ${m.sites.sublayerOutput}`,
    );
    out(`  output head: ${m.outputHead.join(', ') || '-'}`);
    if (m.quantization) out(describeQuantization(m.quantization));
  }
  const a = info.adapter;
  if (a) {
    out(`adapter: ${f.adapter}`);
    out(
      `  peft_type ${a.peft_type}, task_type ${a.task_type}, ${a.tensors.length} tensors, ${a.parameters.toLocaleString('en-US')} parameters`,
    );
    for (const t of a.tensors.slice(0, 12)) out(`  ${t.name} ${t.dtype} [${t.shape}]`);
    if (a.tensors.length > 12) out(`  … ${a.tensors.length - 12} more`);
    out(`  config: ${JSON.stringify(a.config)}`);
  }
  if (info.trainable) out(info.trainable);
  out(`installed methods: ${info.installedMethods.join(', ')}`);
}

type InspectFlags = FlagValues<typeof inspectSpec.flags>;

export async function inspect(args: ParsedArgs, out: (s: string) => void): Promise<void> {
  const f = args.flags as InspectFlags;
  if (!f.model && !f.adapter) throw new UsageError('inspect: give --model DIR and/or --adapter DIR');
  const adapter = f.adapter ? await adapterInfo(f.adapter) : undefined;
  const base = f.model ? await loadBase(f.model) : undefined;
  const model = base ? modelInfo(base) : undefined;
  const trainable = base && f.adapter ? (await loadWithAdapter(base, f.adapter)).printTrainableParameters(() => undefined) : undefined;
  const info = {
    ...(model ? { model } : {}),
    ...(adapter ? { adapter } : {}),
    ...(trainable ? { trainable } : {}),
    installedMethods: await installedMethods(),
  };
  if (f.json) out(JSON.stringify(info, null, 2));
  else printInfo(out, f, info);
}
