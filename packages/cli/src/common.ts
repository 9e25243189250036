import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PeftModel, loadAdapter, readAdapterConfig, registry, type QuantizeRequest } from '@peftjs/core';
import { loadModel, loadTokenizer, type PretrainedModel, type PretrainedTokenizer } from '@peftjs/models';
import { setupBackend, type BackendInfo } from '@peftjs/backend-node';
import { UsageError } from './errors.js';
import { loadMethodForType } from './methods.js';
import './quantization.js'; // bitsandbytes 4-bit folders load everywhere

let backend: { prefer: string; info: Promise<BackendInfo> } | undefined;

/**
 * Starts a backend (the fastest by default); a later call without a preference keeps the one
 * running, a call naming another switches (`train`/`eval` take `--backend`).
 */
export function ensureBackend(prefer?: 'auto' | 'tensorflow' | 'wasm' | 'cpu'): Promise<BackendInfo> {
  if (!backend || (prefer !== undefined && prefer !== backend.prefer)) {
    backend = { prefer: prefer ?? 'auto', info: setupBackend({ prefer: prefer ?? 'auto' }) };
  }
  return backend.info;
}

export async function loadBase(dir: string, opts: { quantize?: QuantizeRequest } = {}): Promise<PretrainedModel> {
  await ensureBackend();
  if (!existsSync(join(dir, 'config.json')))
    throw new UsageError(`--model ${dir}: no config.json there (expected a Hugging Face model folder)`);
  try {
    return await loadModel(dir, opts);
  } catch (e) {
    throw new UsageError(`--model ${dir}: ${(e as Error).message}`);
  }
}

export async function loadTok(dir: string): Promise<PretrainedTokenizer> {
  if (!existsSync(join(dir, 'tokenizer.json'))) throw new UsageError(`--model ${dir}: no tokenizer.json (needed to read text)`);
  return loadTokenizer(dir);
}

/** A base model with the adapter saved in `adapterDir` (any installed method), frozen for inference. */
export async function loadWithAdapter(model: PretrainedModel, adapterDir: string, trainable = false): Promise<PeftModel> {
  if (!existsSync(join(adapterDir, 'adapter_config.json'))) throw new UsageError(`--adapter ${adapterDir}: no adapter_config.json there`);
  let cfg;
  try {
    cfg = await readAdapterConfig(adapterDir);
  } catch (e) {
    throw new UsageError(`--adapter ${adapterDir}: ${(e as Error).message}`);
  }
  await loadMethodForType(cfg.peft_type);
  const peft = new PeftModel(model, { registry });
  try {
    await loadAdapter(peft, adapterDir, 'default', { trainable });
  } catch (e) {
    throw new UsageError(`--adapter ${adapterDir}: ${(e as Error).message}`);
  }
  return peft;
}

/** The model's position table size (max_position_embeddings / n_positions), when it has one. */
export function maxPositions(model: PretrainedModel): number | undefined {
  const c: { maxPositionEmbeddings?: number; nPositions?: number } = model.config;
  return c.maxPositionEmbeddings ?? c.nPositions;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}
