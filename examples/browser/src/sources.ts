/**
 * Where the worker's model and data files come from: the page's bundled assets (the tiny LLaMA
 * of @peftjs/models and the riddles of the CLI demo), a folder the user picked, or the
 * browser's cache of one. Each lands in the in-memory file system under a folder path that the
 * real loaders then read.
 */
import configUrl from '../../../packages/models/assets/peftjs-tiny-llama/config.json?url';
import generationUrl from '../../../packages/models/assets/peftjs-tiny-llama/generation_config.json?url';
import weightsUrl from '../../../packages/models/assets/peftjs-tiny-llama/model.safetensors?url';
import specialUrl from '../../../packages/models/assets/peftjs-tiny-llama/special_tokens_map.json?url';
import tokenizerUrl from '../../../packages/models/assets/peftjs-tiny-llama/tokenizer.json?url';
import tokenizerConfigUrl from '../../../packages/models/assets/peftjs-tiny-llama/tokenizer_config.json?url';
import riddlesTrain from '../../../packages/cli/assets/riddles/train.jsonl?raw';
import riddlesValid from '../../../packages/cli/assets/riddles/valid.jsonl?raw';
import { cacheFolder, readCachedFolder } from './cache.js';
import type { ModelSource, PickedFile } from './protocol.js';
import { putFile, removeTree } from './vfs/store.js';

export const BUNDLED_MODEL = 'peftjs-tiny-llama';

const BUNDLED_FILES: Record<string, string> = {
  'config.json': configUrl,
  'generation_config.json': generationUrl,
  'model.safetensors': weightsUrl,
  'special_tokens_map.json': specialUrl,
  'tokenizer.json': tokenizerUrl,
  'tokenizer_config.json': tokenizerConfigUrl,
};

/** The files of a Hugging Face folder the loaders read (weights, configs, tokenizer); the rest is left on disk. */
export function isModelFile(name: string): boolean {
  return name.endsWith('.safetensors') || name.endsWith('.json');
}

async function fetchBytes(url: string, name: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status} fetching ${url}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The top-level files of a picked folder (`folder/config.json` → `config.json`); sub-folders are ignored. */
function topLevel(files: PickedFile[]): PickedFile[] {
  return files
    .map((f) => ({ ...f, path: f.path.split('/').slice(1).join('/') || f.path }))
    .filter((f) => !f.path.includes('/') && isModelFile(f.path));
}

/**
 * Puts a model's files at `/models/<name>` and returns that folder and where it came from.
 * A picked folder is cached in IndexedDB (best effort: a full quota only costs the cache).
 */
export async function stageModel(source: ModelSource, status: (s: string) => void): Promise<{ dir: string; name: string; from: string }> {
  const name = source.kind === 'bundled' ? BUNDLED_MODEL : source.name;
  const dir = `/models/${name}`;
  removeTree(dir);
  if (source.kind === 'bundled') {
    for (const [file, url] of Object.entries(BUNDLED_FILES)) putFile(`${dir}/${file}`, await fetchBytes(url, file));
    return { dir, name, from: 'bundled with the page' };
  }
  if (source.kind === 'cached') {
    status(`reading ${name} from the browser cache`);
    const files = await readCachedFolder(name);
    if (!files) throw new Error(`${name}: not in this browser's cache any more; pick the folder again`);
    for (const [file, bytes] of files) putFile(`${dir}/${file}`, bytes);
    return { dir, name, from: 'browser cache (IndexedDB)' };
  }
  const picked = topLevel(source.files);
  if (!picked.some((f) => f.path === 'config.json'))
    throw new Error(`${name}: no config.json in the picked folder (expected a Hugging Face model folder)`);
  const files = new Map<string, Uint8Array>();
  for (const f of picked) {
    status(`reading ${f.path} (${(f.file.size / 2 ** 20).toFixed(1)} MiB)`);
    files.set(f.path, new Uint8Array(await f.file.arrayBuffer()));
  }
  for (const [file, bytes] of files) putFile(`${dir}/${file}`, bytes);
  let from = 'picked folder';
  try {
    status(`caching ${name} in this browser`);
    await cacheFolder(name, files);
    from = 'picked folder (now cached in this browser)';
  } catch (e) {
    from = `picked folder (not cached: ${(e as Error).message})`;
  }
  return { dir, name, from };
}

/** The bundled riddle task: its training and held-out files, at `/data`. */
export function stageRiddles(): { train: string; valid: string } {
  putFile('/data/riddles/train.jsonl', riddlesTrain);
  putFile('/data/riddles/valid.jsonl', riddlesValid);
  return { train: '/data/riddles/train.jsonl', valid: '/data/riddles/valid.jsonl' };
}

/** A dropped JSONL file at `/data/<its name>`, so errors name it as the CLI names `--data`. */
export function stageDataFile(name: string, text: string): string {
  const path = `/data/${name.replace(/[\\/]/g, '_')}`;
  putFile(path, text);
  return path;
}
