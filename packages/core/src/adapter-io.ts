import * as tf from '@tensorflow/tfjs-core';
import type { AdapterRecord, PeftConfigBase } from './method.js';
import { sameShape } from './nn/module.js';
import { PeftModel, type PeftModelOptions } from './peft-model.js';
import type { PeftBaseModel } from './sites.js';
import { decodeTensors } from './io/safetensors-read.js';
import { formatPythonJson, pathExists, readFileBytes, readJsonFile } from './io/fs.js';
import { recoverFolder, writeFolderAtomic, type FolderFile } from './io/folder.js';
import { serializeSafetensors } from './io/safetensors-write.js';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';

/**
 * The tensors of an adapter under the names PEFT saves them with (adapter name stripped,
 * `base_model.model.` prefix), including its `modules_to_save` copies. The tensors are the live
 * variables: do not dispose them.
 */
export function adapterStateDict(record: AdapterRecord): Map<string, tf.Tensor> {
  const out = record.method.state?.save ? record.method.state.save(record) : defaultState(record);
  for (const [path, params] of record.savedModules) {
    for (const [p, v] of params) out.set(`${record.method.statePrefix}${path}.${p}`, v);
  }
  return out;
}

function defaultState(record: AdapterRecord): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const h of record.hooks) for (const [p, v] of h.params.namedParameters()) out.set(h.keyPrefix + p, v);
  for (const [p, v] of record.baseParameters) out.set(record.method.statePrefix + p, v);
  return out;
}

/**
 * Loads saved tensors into an adapter. Every name and shape is checked first; a missing,
 * unexpected or wrongly shaped tensor is an error listing them, and nothing is changed.
 */
export function loadAdapterStateDict(record: AdapterRecord, tensors: Map<string, tf.Tensor>, file = ADAPTER_WEIGHTS_NAME): void {
  const savedModuleKeys = new Map<string, tf.Variable>();
  for (const [path, params] of record.savedModules) {
    for (const [p, v] of params) savedModuleKeys.set(`${record.method.statePrefix}${path}.${p}`, v);
  }
  const rest = new Map([...tensors].filter(([k]) => !savedModuleKeys.has(k)));
  const problems: string[] = [];
  for (const [k, v] of savedModuleKeys) {
    const t = tensors.get(k);
    if (!t) problems.push(`missing ${k}`);
    else if (!sameShape(t.shape, v.shape)) problems.push(`${k}: shape [${t.shape}] in file, [${v.shape}] expected`);
  }
  if (record.method.state?.load) {
    if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
    record.method.state.load(record, rest, file);
  } else {
    const expected = defaultState(record);
    for (const [k, v] of expected) {
      const t = rest.get(k);
      if (!t) problems.push(`missing ${k}`);
      else if (!sameShape(t.shape, v.shape)) problems.push(`${k}: shape [${t.shape}] in file, [${v.shape}] expected`);
    }
    for (const k of rest.keys()) if (!expected.has(k)) problems.push(`unexpected ${k}`);
    if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
    for (const [k, v] of expected) (v as tf.Variable).assign(tf.cast(rest.get(k)!, v.dtype));
  }
  for (const [k, v] of savedModuleKeys) v.assign(tensors.get(k)!);
}

/** The config as PEFT writes it: every field, `inference_mode: true`. */
export function adapterConfigJSON(record: AdapterRecord): Record<string, unknown> {
  const json = record.method.config.toJSON ? record.method.config.toJSON(record.config) : { ...record.config };
  return { ...json, peft_type: record.method.type, inference_mode: true };
}

/**
 * Names of the float tensors holding NaN or ±Inf, checked on the values the writer reads anyway (no new
 * GPU tensor: on WebGPU in a worker only values already read with `await data()` can be read).
 */
function nonFiniteTensors(state: Map<string, tf.Tensor>): string[] {
  const finite = (v: ArrayLike<number>) => {
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return false;
    return true;
  };
  return [...state].filter(([, t]) => t.dtype === 'float32' && !finite(t.dataSync())).map(([n]) => n);
}

/**
 * The files of adapters in PEFT's layout: `adapter_config.json` + `adapter_model.safetensors` (+ a
 * method's extra files) at the top for "default", under `<name>/` for any other. Weights holding
 * NaN or Inf are refused, naming the tensors.
 */
export function adapterFiles<I, O>(peft: PeftModel<I, O>, opts: { adapterNames?: readonly string[] } = {}): FolderFile[] {
  const files: FolderFile[] = [];
  for (const name of opts.adapterNames ?? peft.adapterNames) {
    const record = peft.adapter(name);
    const at = (file: string) => (name === 'default' ? file : `${name}/${file}`);
    const state = adapterStateDict(record);
    const bad = nonFiniteTensors(state);
    if (bad.length) throw new Error(`adapter "${name}": refusing to save non-finite weights (NaN or Inf in ${bad.slice(0, 5).join(', ')})`);
    files.push({ path: at(ADAPTER_WEIGHTS_NAME), data: () => serializeSafetensors(state, { metadata: { format: 'pt' } }) });
    for (const [file, bytes] of record.method.state?.extraFiles?.(record) ?? []) files.push({ path: at(file), data: bytes });
    const config = formatPythonJson(adapterConfigJSON(record), { floatKeys: record.method.config.floatFields ?? [] });
    files.push({ path: at(ADAPTER_CONFIG_NAME), data: config });
  }
  return files;
}

/** The commit files of `adapterFiles`: the configs, put in place last (see `writeFolderAtomic`). */
export function adapterCommitFiles(files: readonly FolderFile[]): string[] {
  return files.map((f) => f.path).filter((p) => p === ADAPTER_CONFIG_NAME || p.endsWith(`/${ADAPTER_CONFIG_NAME}`));
}

/**
 * Saves adapters in PEFT's layout (see `adapterFiles`) as one atomic folder save: a loader sees the
 * old adapters or the new ones, never new weights with an old config (see `writeFolderAtomic`).
 */
export async function saveAdapter<I, O>(
  peft: PeftModel<I, O>,
  dir: string,
  opts: { adapterNames?: readonly string[] } = {},
): Promise<void> {
  const files = adapterFiles(peft, opts);
  await writeFolderAtomic(dir, files, { commitFiles: adapterCommitFiles(files) });
}

/** Reads and parses an `adapter_config.json`; errors name the file. */
export async function readAdapterConfig(dir: string): Promise<PeftConfigBase> {
  await recoverFolder(dir); // a save interrupted after its commit point is finished first
  const path = `${dir}/${ADAPTER_CONFIG_NAME}`;
  const raw = await readJsonFile<Record<string, unknown>>(path);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${path}: expected a JSON object`);
  if (typeof raw.peft_type !== 'string') throw new Error(`${path}: peft_type must be a string`);
  return raw as PeftConfigBase;
}

/**
 * Loads an adapter saved by PEFT (or by us) into a PeftModel under `adapterName`. On any error
 * the model is left as it was.
 */
export async function loadAdapter<I, O>(
  peft: PeftModel<I, O>,
  dir: string,
  adapterName = 'default',
  opts: { trainable?: boolean } = {},
): Promise<AdapterRecord> {
  const config = await readAdapterConfig(dir);
  const tensors = decodeTensors(await readFileBytes(`${dir}/${ADAPTER_WEIGHTS_NAME}`), ADAPTER_WEIGHTS_NAME);
  const record = (() => {
    try {
      return peft.addAdapter(adapterName, config, { trainable: opts.trainable ?? false, keepUnknownFields: true });
    } catch (e) {
      tf.dispose([...tensors.values()]);
      throw new Error(`${dir}/${ADAPTER_CONFIG_NAME}: ${(e as Error).message}`);
    }
  })();
  try {
    loadAdapterStateDict(record, tensors, `${dir}/${ADAPTER_WEIGHTS_NAME}`);
    const extra = new Map<string, Uint8Array>();
    for (const name of record.method.state?.extraFileNames ?? []) {
      if (await pathExists(`${dir}/${name}`)) extra.set(name, await readFileBytes(`${dir}/${name}`));
    }
    if (extra.size) await record.method.state?.loadExtraFiles?.(record, extra);
  } catch (e) {
    peft.deleteAdapter(adapterName);
    throw e;
  } finally {
    tf.dispose([...tensors.values()]);
  }
  return record;
}

/** `PeftModel.from_pretrained`: a base model plus the adapter saved in `dir`. */
export async function fromPretrained<I, O>(
  base: PeftBaseModel<I, O>,
  dir: string,
  opts: PeftModelOptions & { adapterName?: string; trainable?: boolean } = {},
): Promise<PeftModel<I, O>> {
  const peft = new PeftModel(base, opts);
  await loadAdapter(peft, dir, opts.adapterName ?? 'default', { trainable: opts.trainable });
  return peft;
}
