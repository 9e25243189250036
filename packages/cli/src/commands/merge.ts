import type { Tensor } from '@tensorflow/tfjs-core';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FolderLockedError, lockFolder, serializeSafetensors, writeFolderAtomic, formatPythonJson, type FolderFile } from '@peftjs/core/io';
import type { CommandSpec, FlagSpec, FlagValues, ParsedArgs } from '../args.js';
import { loadBase, loadWithAdapter } from '../common.js';
import { dequantizeForMerge } from '../quantization.js';
import { UsageError } from '../errors.js';
import { checkOutputLocation } from '../output.js';

/** The weight dtypes merge writes, as `torch_dtype` names them, and their safetensors dtype. */
const DTYPES = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' } as const;
type MergeDtype = keyof typeof DTYPES;

export const mergeSpec = {
  name: 'merge',
  summary: 'merge an adapter into its base model and write a Hugging Face model folder',
  usage: 'peft merge --model DIR --adapter DIR --out DIR [--dtype float32|float16|bfloat16] [--safe] [--overwrite]',
  flags: [
    { name: 'model', type: 'string', description: 'base model folder', required: true },
    { name: 'adapter', type: 'string', description: 'adapter folder', required: true },
    { name: 'out', type: 'string', description: 'output folder for the merged model (never --model or --adapter)', required: true },
    {
      name: 'dtype',
      type: 'string',
      description: "weights dtype on disk (default: the base config's torch_dtype)",
      choices: Object.keys(DTYPES) as MergeDtype[],
    },
    { name: 'safe', type: 'boolean', description: 'refuse to merge if any merged weight is NaN or infinite', default: true },
    { name: 'overwrite', type: 'boolean', description: 'replace a model already in --out' },
  ] as const satisfies readonly FlagSpec[],
} satisfies CommandSpec;

type MergeFlags = FlagValues<typeof mergeSpec.flags>;

const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'vocab.txt',
  'merges.txt',
  'vocab.json',
];

const same = (a: string, b: string) => (existsSync(a) && existsSync(b) ? realpathSync(a) === realpathSync(b) : resolve(a) === resolve(b));

/** --out must not be an input folder, nor (without --overwrite) a folder already holding a model. */
async function checkMergeOutput(f: MergeFlags): Promise<void> {
  if (same(f.out, f.model))
    throw new UsageError(`--out ${f.out} is the --model folder: merging into it would destroy the base model; choose another folder`);
  if (same(f.out, f.adapter)) throw new UsageError(`--out ${f.out} is the --adapter folder; choose another folder`);
  await checkOutputLocation('--out', f.out);
  const model = existsSync(f.out)
    ? readdirSync(f.out).filter((n) => n === 'config.json' || n.endsWith('.safetensors') || n.endsWith('.bin'))
    : [];
  if (model.length && !f.overwrite)
    throw new UsageError(`--out ${f.out} already holds a model (${model.join(', ')}): give --overwrite to replace it, or another folder`);
}

/** The merged folder: weights in `dtype`, the base config labelled with it, the tokenizer files. */
function mergedFiles(f: MergeFlags, weights: Map<string, Tensor>, config: Record<string, unknown>, dtype: MergeDtype): FolderFile[] {
  return [
    { path: 'model.safetensors', data: () => serializeSafetensors(weights, { metadata: { format: 'pt' }, floatDtype: DTYPES[dtype] }) },
    ...TOKENIZER_FILES.filter((n) => existsSync(join(f.model, n))).map((n) => ({ path: n, data: () => readFileSync(join(f.model, n)) })),
    { path: 'config.json', data: formatPythonJson({ ...config, torch_dtype: dtype }, { trailingNewline: true }) },
  ];
}

export async function merge(args: ParsedArgs, out: (s: string) => void): Promise<void> {
  const f = args.flags as MergeFlags;
  await checkMergeOutput(f);
  const base = await loadBase(f.model);
  const dequantized = dequantizeForMerge(base); // a 4-bit base merges into a float folder (PEFT's advice)
  if (dequantized) out(`base: ${dequantized} 4-bit linears dequantized to float32 before merging`);
  const peft = await loadWithAdapter(base, f.adapter);
  const merged = await peft.mergeAndUnloadAsync({ safe: f.safe });
  const { quantization_config: _quantization, ...config } = JSON.parse(readFileSync(join(f.model, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const torchDtype =
    typeof config.torch_dtype === 'string' && config.torch_dtype in DTYPES ? (config.torch_dtype as MergeDtype) : 'float32';
  const dtype = f.dtype ?? torchDtype;
  const weights = new Map(merged.namedParameters());
  const unlock = await lockFolder(f.out).catch((e: unknown) =>
    Promise.reject(e instanceof FolderLockedError ? new UsageError(`--out ${e.message}`) : e),
  );
  try {
    // config.json last: a crash mid-save never leaves new weights under an old config
    await writeFolderAtomic(f.out, mergedFiles(f, weights, config, dtype), { commitFiles: ['config.json'] });
  } finally {
    await unlock();
  }
  out(`merged ${f.adapter} into ${f.model}: wrote ${f.out}/model.safetensors (${weights.size} tensors, ${DTYPES[dtype]})`);
}
