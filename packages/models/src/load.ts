import * as tf from '@tensorflow/tfjs-core';
import { LinearLike, Rng, sameShape, weightFormats, type QuantizeRequest, type WeightFormatSession } from '@peftjs/core';
import { entryToTensor, readJsonFile, type SafetensorsEntry } from '@peftjs/core/io';
import { joinPath, readCheckpointHeader, readEntries, type CheckpointTensor } from './checkpoint.js';
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
  /**
   * Quantize the linears while loading, one tensor at a time (`{ type: 'nf4', doubleQuant: true }`),
   * through a registered weight format (`import '@peftjs/qlora/register'`).
   */
  quantize?: QuantizeRequest;
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

/**
 * Builds the model a Hugging Face folder describes (`config.json`) and loads its weights
 * (`model.safetensors` or the shards of `model.safetensors.index.json`), in eval mode.
 */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<PretrainedModel> {
  return (await loadModelWithReport(dir, opts)).model;
}

/** `loadModel`, also returning what was loaded, missing, unexpected or mismatched. */
export async function loadModelWithReport(
  dir: string,
  opts: LoadOptions = {},
): Promise<{ model: PretrainedModel; report: LoadReport; config: HfConfig }> {
  if (opts.dtype !== undefined && opts.dtype !== 'float32') {
    throw new Error(`loadModel: dtype "${String(opts.dtype)}" is not supported (supported: float32)`);
  }
  const configPath = joinPath(dir, 'config.json');
  const config = await readJsonFile<HfConfig>(configPath);
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new Error(`${configPath}: expected a JSON object`);
  const architecture = resolveArchitecture(config, configPath);
  // built with zero weights (no random-number time, no resident pages) that the checkpoint replaces
  const model = architectureEntry(architecture).build(config, new SkipInitRng(0));
  try {
    const report = await loadWeights(model, dir, { ...opts, architecture, config });
    initMissing(model, report.missing, config, opts.rng ?? new Rng(0));
    return { model: model.eval(), report, config };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * Loads a folder's weights into a model built for it. The safetensors headers are read first and
 * every name and shape is checked before any tensor data is read; then each tensor is read by offset
 * and replaces its variable's data at once, so that the peak is about the model plus one tensor.
 * Names map one-for-one; a bare base model's checkpoint (`embed_tokens…`) also loads into a task
 * class (`model.embed_tokens…`) and the other way round. A registered weight format (see core's
 * `weightFormats`) may take over linears: quantized checkpoints, or `quantize` while loading.
 */
export async function loadWeights(
  model: PretrainedModel,
  dir: string,
  opts: LoadOptions & { architecture: string; config?: HfConfig },
): Promise<LoadReport> {
  const header = await readCheckpointHeader(dir);
  const plan = planLoad(model, header.tensors, { ...opts, configPath: joinPath(dir, 'config.json') });
  const report: LoadReport = {
    architecture: opts.architecture,
    files: header.files,
    loaded: 0,
    missing: [],
    unexpected: plan.unexpected,
    mismatched: [],
  };
  const seen = new Set<string>();
  // checked from the headers alone, before any data is read
  for (const [target, t] of plan.floats) {
    const v = plan.params.get(target)!;
    if (!sameShape(t.shape, v.shape)) report.mismatched.push({ name: target, expected: [...v.shape], got: [...t.shape] });
  }
  const pending = new Set([...plan.floats.keys()].filter((n) => !report.mismatched.some((m) => m.name === n)));
  const covered = new Set([...pending, ...plan.linears.flatMap((l) => l.params)]);
  for (const name of plan.params.keys()) if (!covered.has(name)) report.missing.push(name);
  const strict = opts.strict ?? true;
  const problems = describeProblems(report);
  if (strict && problems) throw new Error(`${dir}: checkpoint does not match ${opts.architecture}: ${problems}`);

  for (const l of plan.linears) {
    const tensors = await readEntries(
      dir,
      l.names.map((n) => header.tensors.get(n)!),
    );
    const layer = plan.session!.build(l.path, l.prefix, model.getModule(l.path) as LinearLike, tensors);
    model.setModule(l.path, layer).dispose();
    for (const p of l.params) seen.add(p);
    report.loaded += l.names.length;
  }
  for (const target of pending) {
    const t = plan.floats.get(target)!;
    const e = (await readEntries(dir, [t])).get(t.name)!;
    assign(plan.params.get(target)!, target, e, t.file, report, seen);
  }
  return report;
}

interface LoadPlan {
  params: Map<string, tf.Variable>;
  /** model parameter → the checkpoint tensor loaded into it */
  floats: Map<string, CheckpointTensor>;
  unexpected: string[];
  session: WeightFormatSession | null;
  /** linears a weight format replaces: their checkpoint tensors and the parameters they cover */
  linears: Array<{ path: string; prefix: string; names: string[]; params: string[] }>;
}

/** Which checkpoint tensor goes where, from the header alone. */
function planLoad(
  model: PretrainedModel,
  header: Map<string, CheckpointTensor>,
  opts: LoadOptions & { architecture: string; config?: HfConfig; configPath: string },
): LoadPlan {
  const entry = architectureEntry(opts.architecture);
  const params = new Map<string, tf.Variable>(model.namedParameters());
  // tied aliases: `lm_head.weight` → `model.embed_tokens.weight`
  const aliases = new Map<string, string>(model.tiedWeights);
  const resolve = (name: string): string | null => {
    const candidates = [name];
    if (entry.basePrefix) candidates.push(`${entry.basePrefix}.${name}`);
    if (entry.stripPrefix && name.startsWith(`${entry.stripPrefix}.`)) candidates.push(name.slice(entry.stripPrefix.length + 1));
    return candidates.find((c) => params.has(c) || aliases.has(c)) ?? null;
  };
  const byTarget = new Map<string, string>();
  for (const name of header.keys()) {
    const target = resolve(name);
    if (target !== null && !byTarget.has(target)) byTarget.set(target, name);
  }
  const session = weightFormats.open({
    config: opts.config ?? {},
    configPath: opts.configPath,
    quantize: opts.quantize,
    header,
    outputHeads: model.outputHeadPaths ?? [],
  });
  const claimed = new Set<string>();
  const linears: LoadPlan['linears'] = [];
  for (const [path, m] of session ? model.namedModules() : []) {
    if (!(m instanceof LinearLike) || m.layout !== 'linear' || aliases.has(`${path}.weight`)) continue;
    const source = byTarget.get(`${path}.weight`);
    if (source === undefined) continue;
    const prefix = source.slice(0, -'weight'.length);
    const names = session!.claim(path, prefix, m);
    if (!names) continue;
    names.forEach((n) => claimed.add(n));
    linears.push({ path, prefix, names, params: m.namedParameters(path).map(([p]) => p) });
  }
  const floats = new Map<string, CheckpointTensor>();
  const unexpected: string[] = [];
  const aliasSources: Array<[string, CheckpointTensor]> = [];
  for (const [name, t] of header) {
    if (claimed.has(name)) continue;
    const target = resolve(name);
    if (target === null) {
      if (!entry.ignoreUnexpected.some((re) => re.test(name))) unexpected.push(name);
    } else if (aliases.has(target)) aliasSources.push([aliases.get(target)!, t]);
    else if (!floats.has(target)) floats.set(target, t);
  }
  // a tied copy is loaded only if its source is not in the checkpoint
  for (const [source, t] of aliasSources) if (!floats.has(source)) floats.set(source, t);
  return { params, floats, unexpected, session, linears };
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
