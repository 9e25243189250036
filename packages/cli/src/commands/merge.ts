import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic, writeSafetensorsFile } from '@peftjs/core';
import type { CommandSpec, ParsedArgs } from '../args.js';
import { loadBase, loadWithAdapter } from '../common.js';
import { dequantizeForMerge } from '../quantization.js';

export const mergeSpec: CommandSpec = {
  name: 'merge',
  summary: 'merge an adapter into its base model and write a Hugging Face model folder',
  usage: 'peft merge --model DIR --adapter DIR --out DIR [--dtype float32|float16|bfloat16] [--safe]',
  flags: [
    { name: 'model', type: 'string', description: 'base model folder', required: true },
    { name: 'adapter', type: 'string', description: 'adapter folder', required: true },
    { name: 'out', type: 'string', description: 'output folder for the merged model', required: true },
    { name: 'dtype', type: 'string', description: "weights dtype on disk (default: the base config's torch_dtype)" },
    { name: 'safe', type: 'boolean', description: 'refuse to merge if any merged weight is NaN or infinite', default: true },
  ],
};

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'vocab.txt', 'merges.txt', 'vocab.json'];

export async function merge(args: ParsedArgs, out: (s: string) => void): Promise<void> {
  const f = args.flags as { model: string; adapter: string; out: string; dtype?: string; safe: boolean };
  const base = await loadBase(f.model);
  const dequantized = dequantizeForMerge(base); // a 4-bit base merges into a float folder (PEFT's advice)
  const peft = await loadWithAdapter(base, f.adapter);
  const merged = peft.mergeAndUnload({ safe: f.safe });
  const { quantization_config: _q, ...config } = JSON.parse(readFileSync(join(f.model, 'config.json'), 'utf8')) as Record<string, unknown>;
  const dtype = f.dtype ?? (typeof config.torch_dtype === 'string' ? config.torch_dtype : 'float32');
  if (dequantized) out(`base: ${dequantized} 4-bit linears dequantized to float32 before merging`);
  const floatDtype = dtype === 'float16' ? 'F16' : dtype === 'bfloat16' ? 'BF16' : 'F32';
  mkdirSync(f.out, { recursive: true });
  const tensors = new Map(merged.namedParameters());
  await writeSafetensorsFile(join(f.out, 'model.safetensors'), tensors, { metadata: { format: 'pt' }, floatDtype });
  await writeJsonAtomic(join(f.out, 'config.json'), { ...config, torch_dtype: dtype }, { trailingNewline: true });
  for (const name of TOKENIZER_FILES) if (existsSync(join(f.model, name))) copyFileSync(join(f.model, name), join(f.out, name));
  out(`merged ${f.adapter} into ${f.model}: wrote ${f.out}/model.safetensors (${tensors.size} tensors, ${floatDtype})`);
}
