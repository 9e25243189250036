/**
 * What the worker holds and does: one base model and tokenizer, one dataset, one PeftModel with
 * its Trainer. Everything goes through the packages' real code paths (loaders, data, Trainer,
 * saveAdapter/loadAdapter) over the in-memory file system.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  PeftModel,
  adapterStateDict,
  type ModelOutput,
  type TokenBatch,
  loadAdapter,
  readAdapterConfig,
  registry,
  saveAdapter,
  type PeftConfigBase,
  type PeftMethod,
} from '@peftjs/core';
import { adalora } from '@peftjs/adalora';
import { bottleneckAdapter } from '@peftjs/adapter';
import { lora } from '@peftjs/lora';
import { prefixTuning } from '@peftjs/prefix';
import { promptTuning } from '@peftjs/prompt';
import { pTuning } from '@peftjs/ptuning';
import { loadModelWithReport, loadTokenizer, type PretrainedModel, type PretrainedTokenizer } from '@peftjs/models';
import { collateExamples, evaluateModelAsync, loadJsonlDataset, type Dataset, type EncodedExample } from '@peftjs/train';
import type { AdapterFile, DataInfo, DataSource, ModelInfo, ModelSource, PickedFile } from './protocol.js';
import { sha256Hex } from './checkpoints.js';
import { stageDataFile, stageModel, stageRiddles } from './sources.js';
import { getFile, listFiles, putFile, removeTree } from './vfs/store.js';

/** The PeftModel of the page: token batches in, logits and loss out. */
export type Peft = PeftModel<TokenBatch, ModelOutput>;

/** The installed methods by the short names the CLI uses. */
export const METHODS: Record<string, PeftMethod> = {
  lora,
  adalora,
  prompt: promptTuning,
  prefix: prefixTuning,
  ptuning: pTuning,
  adapter: bottleneckAdapter,
};
for (const m of Object.values(METHODS)) registry.use(m);

export interface Loaded {
  base: PretrainedModel;
  tokenizer: PretrainedTokenizer;
  info: ModelInfo;
}

export const state: { model?: Loaded; data?: Dataset & { name: string; id: string }; peft?: Peft; trainableLine?: string } = {};

export function padId(tok: PretrainedTokenizer): number {
  return tok.padTokenId ?? tok.eosTokenId ?? 0;
}

export function requireModel(): Loaded {
  if (!state.model) throw new Error('load a model first');
  return state.model;
}

/** Removes the adapters from the base model (their weights are disposed) and forgets the PeftModel. */
export function dropPeft(): void {
  if (!state.peft) return;
  state.peft.unload();
  state.peft = undefined;
  state.trainableLine = undefined;
}

export async function loadModel(source: ModelSource, status: (s: string) => void): Promise<ModelInfo> {
  const staged = await stageModel(source, status);
  status(`building ${staged.name}`);
  try {
    const { model, config } = await loadModelWithReport(staged.dir);
    const tokenizer = await loadTokenizer(staged.dir).catch((e: Error) => {
      model.dispose();
      throw e;
    });
    dropPeft();
    state.model?.base.dispose();
    state.data = undefined;
    const parameters = model.namedParameters().reduce((n, [, v]) => n + v.size, 0);
    const architecture = String((config.architectures as string[] | undefined)?.[0] ?? config.model_type);
    const info: ModelInfo = {
      id: `${staged.name}|${architecture}|${parameters}`,
      name: staged.name,
      architecture,
      parameters,
      layers: Number(config.num_hidden_layers ?? config.n_layer ?? 0),
      hidden: Number(config.hidden_size ?? config.n_embd ?? 0),
      vocab: Number(config.vocab_size ?? 0),
      from: staged.from,
    };
    state.model = { base: model, tokenizer, info };
    return info;
  } finally {
    // the weights now live in tensors; keep only the small files
    for (const f of listFiles(staged.dir)) if (f.endsWith('.safetensors')) removeTree(`${staged.dir}/${f}`);
  }
}

export async function loadData(source: DataSource, maxLength: number, valSplit: number): Promise<DataInfo> {
  const { tokenizer } = requireModel();
  const warnings: string[] = [];
  let dataset: Dataset;
  let name: string;
  const id = `${source.kind === 'bundled' ? 'riddles' : `${source.name}|${await sha256Hex(source.text)}`}|${maxLength}|${source.kind === 'bundled' ? '' : valSplit}`;
  if (source.kind === 'bundled') {
    const p = stageRiddles();
    name = 'animal riddles (112 training, 56 held-out)';
    dataset = await loadJsonlDataset(p.train, tokenizer, { maxLength, validation: p.valid, seed: 42, warn: (m) => warnings.push(m) });
  } else {
    name = source.name;
    const path = stageDataFile(source.name, source.text);
    dataset = await loadJsonlDataset(path, tokenizer, { maxLength, validation: valSplit, seed: 42, warn: (m) => warnings.push(m) });
  }
  state.data = { ...dataset, name, id };
  const examples = dataset.validation.slice(0, 6).map((e) => promptOf(e.inputIds, e.labels, tokenizer));
  return {
    id,
    name,
    format: dataset.format,
    train: dataset.train.length,
    validation: dataset.validation.length,
    truncated: dataset.truncated,
    warnings,
    examples,
  };
}

/** The prompt part of an encoded example (the tokens before the first labelled one). */
function promptOf(ids: number[], labels: number[] | number, tok: PretrainedTokenizer): string {
  const first = Array.isArray(labels) ? labels.findIndex((l) => l !== -100) : -1;
  const keep = first > 0 ? ids.slice(0, first) : ids.slice(0, Math.min(ids.length, 24));
  return tok.decode(keep, { skipSpecialTokens: true });
}

/** A fresh adapter of `method` on the base model (any previous one is removed). */
export function newAdapter(method: string, options: Record<string, unknown>): Peft {
  const { base } = requireModel();
  const m = METHODS[method];
  if (!m) throw new Error(`method "${method}" is not installed in this page (installed: ${Object.keys(METHODS).join(', ')})`);
  dropPeft();
  const taskType = state.data?.format === 'classification' ? 'SEQ_CLS' : 'CAUSAL_LM';
  const peft = new PeftModel(base as never, { registry }) as Peft;
  peft.addAdapter('default', { peft_type: m.type, task_type: taskType, ...options } as PeftConfigBase);
  state.peft = peft;
  state.trainableLine = peft.printTrainableParameters(() => undefined);
  return peft;
}

/**
 * `collateExamples`, then padded to a multiple of 16 tokens: on WebGPU every new shape compiles
 * new shaders (seconds each on a software adapter), so a few lengths instead of one per batch.
 * The padding is masked out and unlabelled, so the loss is unchanged.
 */
export function collateBucketed(items: readonly EncodedExample[], pad: number): TokenBatch {
  const b = collateExamples(items, pad);
  const T = b.inputIds.shape[1]!;
  const extra = Math.ceil(T / 16) * 16 - T;
  if (extra === 0 || b.labels?.rank !== 2) return b;
  const grow = (t: tf.Tensor, value: number) => {
    const out = tf.pad(
      t as tf.Tensor2D,
      [
        [0, 0],
        [0, extra],
      ],
      value,
    );
    t.dispose();
    return out;
  };
  return { inputIds: grow(b.inputIds, pad), attentionMask: grow(b.attentionMask!, 0), labels: grow(b.labels, -100) };
}

/** Mean loss on the validation split (the number the chart's val_loss shows). */
export async function validationLoss(model: Peft): Promise<number | null> {
  const data = state.data;
  if (!data?.validation.length) return null;
  const pad = padId(requireModel().tokenizer);
  return (await evaluateModelAsync(model, data.validation, { batchSize: 16, collate: (x) => collateBucketed(x, pad) })).loss;
}

/** The adapter as PEFT's files (saveAdapter into memory), and each tensor's shape and sum for checks. */
export async function adapterFiles(): Promise<{ files: AdapterFile[]; tensors: Record<string, { shape: number[]; sum: number }> }> {
  const peft = state.peft;
  if (!peft) throw new Error('there is no adapter yet: train one or load one');
  removeTree('/adapter-out');
  // the values on the CPU first: the safetensors writer reads them synchronously
  await Promise.all([...adapterStateDict(peft.adapter('default')).values()].map((t) => t.data()));
  await saveAdapter(peft, '/adapter-out', { adapterNames: ['default'] });
  const files = listFiles('/adapter-out').map((name) => ({ name, bytes: getFile(`/adapter-out/${name}`)! }));
  const tensors: Record<string, { shape: number[]; sum: number }> = {};
  for (const [name, v] of peft.namedParameters()) {
    if (!v.trainable) continue;
    const s = tf.tidy(() => tf.sum(v));
    tensors[name] = { shape: [...v.shape], sum: (await s.data())[0] };
    s.dispose();
  }
  return { files, tensors };
}

/** Loads adapter files the user picked (adapter_config.json + weights, any installed method) onto the base model. */
export async function loadAdapterFiles(files: PickedFile[]): Promise<{ peftType: string; trainableLine: string }> {
  requireModel();
  removeTree('/adapter-in');
  for (const f of files) putFile(`/adapter-in/${f.path.split('/').pop()}`, new Uint8Array(await f.file.arrayBuffer()));
  if (!getFile('/adapter-in/adapter_config.json')) throw new Error('the picked files hold no adapter_config.json');
  const cfg = await readAdapterConfig('/adapter-in');
  if (!registry.has(cfg.peft_type))
    throw new Error(`adapter_config.json: peft_type "${cfg.peft_type}" is not a method installed in this page`);
  dropPeft();
  const peft = new PeftModel(requireModel().base as never, { registry }) as Peft;
  try {
    await loadAdapter(peft, '/adapter-in', 'default', { trainable: false });
  } catch (e) {
    peft.unload();
    throw e;
  }
  state.peft = peft;
  state.trainableLine = peft.printTrainableParameters(() => undefined);
  return { peftType: cfg.peft_type, trainableLine: state.trainableLine };
}
