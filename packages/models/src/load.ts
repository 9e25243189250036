import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@peftjs/core';
import { entryToTensor, pathExists, readJsonFile, readSafetensorsFile, type SafetensorsEntry } from '@peftjs/core/io';
import type { HfConfig } from './config.js';
import { SkipInitRng, viewF32 } from './init.js';
import { architectureEntry, resolveArchitecture, type PretrainedModel } from './registry.js';

export interface LoadOptions {
  /** Missing, unexpected or wrongly-shaped tensors are an error (default) or only reported. */
  strict?: boolean;
  /** In-memory dtype; f16/bf16 on disk become float32. Only 'float32' today. */
  dtype?: 'float32';
  /**
   * Generator for the weights a checkpoint does not hold (strict: false): matrices and
   * embeddings get normal(0, initializer_range) as transformers' `_init_weights`, biases 0.
   */
  rng?: Rng;
}

export interface LoadReport {
  /** The architecture built (`LlamaForCausalLM`). */
  architecture: string;
  /** The safetensors files read, in order. */
  files: string[];
  /** Number of tensors loaded. */
  loaded: number;
  /** Model parameters the checkpoint does not hold (they keep their random init). */
  missing: string[];
  /** Checkpoint tensors the model has no parameter for (ignored). */
  unexpected: string[];
  /** Tensors whose shape differs from the parameter's (not loaded). */
  mismatched: Array<{ name: string; expected: number[]; got: number[] }>;
}

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';

function join(dir: string, name: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? `${dir}${name}` : `${dir}/${name}`;
}

/**
 * Builds the model a Hugging Face folder describes (`config.json`) and loads its weights
 * (`model.safetensors` or the shards of `model.safetensors.index.json`), in eval mode.
 */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<PretrainedModel> {
  return (await loadModelWithReport(dir, opts)).model;
}

/** `loadModel`, also returning what was loaded, missing, unexpected or mismatched. */
export async function loadModelWithReport(dir: string, opts: LoadOptions = {}): Promise<{ model: PretrainedModel; report: LoadReport; config: HfConfig }> {
  if (opts.dtype !== undefined && opts.dtype !== 'float32') {
    throw new Error(`loadModel: dtype "${String(opts.dtype)}" is not supported (supported: float32)`);
  }
  const configPath = join(dir, 'config.json');
  const config = await readJsonFile<HfConfig>(configPath);
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new Error(`${configPath}: expected a JSON object`);
  const architecture = resolveArchitecture(config, configPath);
  // built with zero weights (no random-number time, no resident pages) that the checkpoint replaces
  const model = architectureEntry(architecture).build(config, new SkipInitRng(0));
  try {
    const report = await loadWeights(model, dir, { ...opts, architecture });
    initMissing(model, report.missing, config, opts.rng ?? new Rng(0));
    return { model: model.eval(), report, config };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** The safetensors files of a folder, each with the tensor names it should hold (null: all). */
async function weightFiles(dir: string): Promise<Array<{ file: string; names: Set<string> | null }>> {
  if (await pathExists(join(dir, INDEX))) {
    const indexPath = join(dir, INDEX);
    const index = await readJsonFile<{ weight_map?: Record<string, string> }>(indexPath);
    const map = index?.weight_map;
    if (!map || typeof map !== 'object') throw new Error(`${indexPath}: missing "weight_map"`);
    const byFile = new Map<string, Set<string>>();
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string') throw new Error(`${indexPath}: weight_map["${name}"] must be a file name`);
      if (!byFile.has(file)) byFile.set(file, new Set());
      byFile.get(file)!.add(name);
    }
    return [...byFile.entries()].map(([file, names]) => ({ file, names }));
  }
  if (await pathExists(join(dir, SINGLE))) return [{ file: SINGLE, names: null }];
  const hint = (await pathExists(join(dir, 'pytorch_model.bin'))) ? ' (pytorch_model.bin is not read: convert it to safetensors)' : '';
  throw new Error(`${dir}: no ${SINGLE} or ${INDEX}${hint}`);
}

/**
 * Loads a folder's weights into a model built for it, shard by shard and tensor by tensor
 * (each decoded tensor replaces its variable's data at once), so that the peak is about the
 * model plus one shard. Names map one-for-one; a bare base model's checkpoint (`embed_tokens…`)
 * also loads into a task class (`model.embed_tokens…`) and the other way round.
 */
export async function loadWeights(
  model: PretrainedModel,
  dir: string,
  opts: LoadOptions & { architecture: string },
): Promise<LoadReport> {
  const entry = architectureEntry(opts.architecture);
  const params = new Map<string, tf.Variable>(model.namedParameters());
  // tied aliases: `lm_head.weight` → `model.embed_tokens.weight`
  const aliases = new Map<string, string>(model.tiedWeights);
  const resolve = (name: string): string | null => {
    const candidates = [name];
    if (entry.basePrefix) candidates.push(`${entry.basePrefix}.${name}`);
    if (entry.stripPrefix && name.startsWith(`${entry.stripPrefix}.`)) candidates.push(name.slice(entry.stripPrefix.length + 1));
    for (const c of candidates) {
      if (params.has(c)) return c;
      if (aliases.has(c)) return c;
    }
    return null;
  };

  const report: LoadReport = { architecture: opts.architecture, files: [], loaded: 0, missing: [], unexpected: [], mismatched: [] };
  const seen = new Set<string>();
  const aliasEntries: Array<[string, SafetensorsEntry, string]> = [];
  for (const { file, names } of await weightFiles(dir)) {
    const path = join(dir, file);
    // one shard in memory at a time; its bytes are released when this iteration ends
    const shard = await readSafetensorsFile(path);
    report.files.push(file);
    for (const [name, e] of shard.tensors) {
      if (names && !names.has(name)) continue;
      const target = resolve(name);
      if (target === null) {
        if (!entry.ignoreUnexpected.some((re) => re.test(name))) report.unexpected.push(name);
        continue;
      }
      if (aliases.has(target)) {
        // a tied copy: loaded only if its source is not in the checkpoint (decided at the end)
        aliasEntries.push([target, { ...e, bytes: e.bytes.slice() }, file]);
        continue;
      }
      assign(params.get(target)!, target, e, file, report, seen);
    }
  }
  for (const [alias, e, file] of aliasEntries) {
    const source = aliases.get(alias)!;
    if (!seen.has(source)) assign(params.get(source)!, source, { ...e, name: alias }, file, report, seen);
  }
  for (const name of params.keys()) if (!seen.has(name)) report.missing.push(name);

  const strict = opts.strict ?? true;
  const problems = describeProblems(report);
  if (strict && problems) throw new Error(`${dir}: checkpoint does not match ${opts.architecture}: ${problems}`);
  return report;
}

/** Missing weights (strict: false) as transformers initialises them: matrices normal(0, initializer_range). */
function initMissing(model: PretrainedModel, missing: string[], config: HfConfig, rng: Rng): void {
  const std = typeof config.initializer_range === 'number' ? config.initializer_range : 0.02;
  const params = new Map(model.namedParameters());
  for (const name of missing) {
    const v = params.get(name)!;
    if (v.rank === 2 && name.endsWith('weight')) {
      const t = rng.normalTensor([...v.shape], 0, std);
      v.assign(t);
      t.dispose();
    }
  }
}

function assign(v: tf.Variable, name: string, e: SafetensorsEntry, file: string, report: LoadReport, seen: Set<string>): void {
  if (e.shape.length !== v.shape.length || e.shape.some((d, i) => d !== v.shape[i])) {
    report.mismatched.push({ name, expected: [...v.shape], got: [...e.shape] });
    return;
  }
  // F32: a view of the shard's bytes (no copy; the shard buffer becomes the weights' storage)
  const t = (e.dtype === 'F32' ? viewF32(e.bytes, e.shape) : null) ?? entryToTensor(e, file);
  try {
    if (t.dtype !== v.dtype) throw new Error(`${file}: tensor "${e.name}" has dtype ${e.dtype}, parameter ${name} is ${v.dtype}`);
    v.assign(t);
  } finally {
    t.dispose();
  }
  seen.add(name);
  report.loaded++;
}

/** One line per kind of problem, listing the names; empty when the checkpoint matches. */
export function describeProblems(r: LoadReport): string {
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing ${r.missing.length} tensor(s): ${r.missing.join(', ')}`);
  if (r.unexpected.length) parts.push(`unexpected ${r.unexpected.length} tensor(s): ${r.unexpected.join(', ')}`);
  if (r.mismatched.length) {
    parts.push(`wrong shape: ${r.mismatched.map((m) => `${m.name} (model [${m.expected}], checkpoint [${m.got}])`).join(', ')}`);
  }
  return parts.join('; ');
}
