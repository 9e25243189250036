import { pathExists, readJsonFile } from '@peftjs/core/io';
import type { GenerateOptions } from './generate.js';

/** The defaults a Hugging Face folder gives `generate` (generation_config.json, else config.json). */
export interface GenerationDefaults {
  bosTokenId?: number;
  eosTokenId?: number | number[];
  padTokenId?: number;
  /** `generate` options equivalent to the file's sampling fields (do_sample, temperature, top_k, top_p, max_new_tokens). */
  options: Partial<GenerateOptions>;
}

function ids(v: unknown): number | number[] | undefined {
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v as number[];
  return undefined;
}

/** Reads `generation_config.json` (falling back to `config.json`) from a model folder. */
export async function loadGenerationConfig(dir: string): Promise<GenerationDefaults> {
  const sep = dir.endsWith('/') ? '' : '/';
  const path = `${dir}${sep}generation_config.json`;
  const cfg = (await pathExists(path))
    ? await readJsonFile<Record<string, unknown>>(path)
    : await readJsonFile<Record<string, unknown>>(`${dir}${sep}config.json`);
  const options: Partial<GenerateOptions> = {};
  if (typeof cfg.do_sample === 'boolean') options.doSample = cfg.do_sample;
  if (typeof cfg.temperature === 'number') options.temperature = cfg.temperature;
  if (typeof cfg.top_k === 'number') options.topK = cfg.top_k;
  if (typeof cfg.top_p === 'number') options.topP = cfg.top_p;
  if (typeof cfg.max_new_tokens === 'number') options.maxNewTokens = cfg.max_new_tokens;
  const eos = ids(cfg.eos_token_id);
  const pad = typeof cfg.pad_token_id === 'number' ? cfg.pad_token_id : undefined;
  if (eos !== undefined) options.eosTokenId = eos;
  if (pad !== undefined) options.padTokenId = pad;
  return {
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : undefined,
    eosTokenId: eos,
    padTokenId: pad,
    options,
  };
}
