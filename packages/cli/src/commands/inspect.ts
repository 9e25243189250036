import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { linearModules, readSafetensorsFile } from '@peftjs/core';
import type { CommandSpec, ParsedArgs } from '../args.js';
import { loadBase, loadWithAdapter } from '../common.js';
import { UsageError } from '../errors.js';
import { installedMethods } from '../methods.js';
import { describeQuantization, quantizationSummary, type QuantizationSummary } from '../quantization.js';

export const inspectSpec: CommandSpec = {
  name: 'inspect',
  summary: 'summarise a model folder or an adapter: sites, parameters, config',
  usage: 'peft inspect --model DIR [--adapter DIR] | --adapter DIR',
  flags: [
    { name: 'model', type: 'string', description: 'Hugging Face model folder' },
    { name: 'adapter', type: 'string', description: 'adapter folder (adapter_config.json + adapter_model.safetensors)' },
    { name: 'json', type: 'boolean', description: 'print JSON instead of text' },
  ],
};

export async function inspect(args: ParsedArgs, out: (s: string) => void): Promise<void> {
  const { model: modelDir, adapter, json } = args.flags as { model?: string; adapter?: string; json?: boolean };
  if (!modelDir && !adapter) throw new UsageError('inspect: give --model DIR and/or --adapter DIR');
  const info: Record<string, unknown> = {};
  if (adapter) {
    const cfgPath = join(adapter, 'adapter_config.json');
    if (!existsSync(cfgPath)) throw new UsageError(`--adapter ${adapter}: no adapter_config.json there`);
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    const file = await readSafetensorsFile(join(adapter, 'adapter_model.safetensors'));
    info.adapter = {
      peft_type: cfg.peft_type,
      task_type: cfg.task_type,
      base_model_name_or_path: cfg.base_model_name_or_path,
      tensors: [...file.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
      parameters: [...file.tensors.values()].reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0),
      config: cfg,
    };
  }
  if (modelDir) {
    const model = await loadBase(modelDir);
    const lin = linearModules(model);
    const names = new Map<string, number>();
    for (const [p] of lin) names.set(p.split('.').pop()!, (names.get(p.split('.').pop()!) ?? 0) + 1);
    const all = model.namedParameters().reduce((n, [, v]) => n + v.size, 0);
    info.model = {
      dims: model.dims,
      parameters: all,
      sites: {
        linear: Object.fromEntries(names),
        inputEmbeddings: model.sites.inputEmbeddings ? 1 : 0,
        attentionKV: model.sites.attentionKV?.length ?? 0,
        sublayerOutput: model.sites.sublayerOutput?.length ?? 0,
      },
      outputHead: model.outputHeadPaths ?? [],
      quantization: quantizationSummary(model),
    };
    if (adapter) {
      const peft = await loadWithAdapter(model, adapter);
      (info as Record<string, unknown>).trainable = peft.printTrainableParameters(() => undefined);
    }
  }
  info.installedMethods = await installedMethods();
  if (json) {
    out(JSON.stringify(info, null, 2));
    return;
  }
  const m = info.model as { dims: Record<string, unknown>; parameters: number; sites: Record<string, unknown>; outputHead: string[]; quantization: QuantizationSummary | null } | undefined;
  if (m) {
    out(`model: ${modelDir}`);
    out(`  ${Object.entries(m.dims).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    out(`  parameters: ${m.parameters.toLocaleString('en-US')}`);
    out(`  sites: linear ${JSON.stringify(m.sites.linear)}, inputEmbeddings ${m.sites.inputEmbeddings}, attentionKV ${m.sites.attentionKV}, sublayerOutput ${m.sites.sublayerOutput}`);
    out(`  output head: ${m.outputHead.join(', ') || '-'}`);
    if (m.quantization) out(describeQuantization(m.quantization));
  }
  const a = info.adapter as { peft_type: string; task_type: string; tensors: Array<{ name: string; dtype: string; shape: number[] }>; parameters: number; config: unknown } | undefined;
  if (a) {
    out(`adapter: ${adapter}`);
    out(`  peft_type ${a.peft_type}, task_type ${a.task_type}, ${a.tensors.length} tensors, ${a.parameters.toLocaleString('en-US')} parameters`);
    for (const t of a.tensors.slice(0, 12)) out(`  ${t.name} ${t.dtype} [${t.shape}]`);
    if (a.tensors.length > 12) out(`  … ${a.tensors.length - 12} more`);
    out(`  config: ${JSON.stringify(a.config)}`);
  }
  if (info.trainable) out(String(info.trainable));
  out(`installed methods: ${(info.installedMethods as string[]).join(', ')}`);
}
