import type { Rng } from '@peftjs/core';
import type { HfConfig } from './config.js';
import { LlamaForCausalLM } from './llama.js';
import { GPT2LMHeadModel } from './gpt2.js';
import { BertModel } from './bert.js';
import { BertForSequenceClassification, BertForTokenClassification } from './bert-heads.js';

/** Every model class this package builds. */
export type PretrainedModel = LlamaForCausalLM | GPT2LMHeadModel | BertModel | BertForSequenceClassification | BertForTokenClassification;

/** The causal language models (they generate). */
export type CausalLMModel = LlamaForCausalLM | GPT2LMHeadModel;

interface ArchitectureEntry {
  build(config: HfConfig, rng?: Rng): PretrainedModel;
  /** Path prefix of the base model inside the class (`model`, `transformer`, `bert`), '' for a bare base model. */
  basePrefix: string;
  /** The prefix checkpoints of the task classes put before a bare base model's names. */
  stripPrefix?: string;
  /** Checkpoint tensors transformers ignores for this class (buffers older versions saved). */
  ignoreUnexpected: RegExp[];
}

const llama: ArchitectureEntry = {
  build: (c, rng) => new LlamaForCausalLM(c, { rng }),
  basePrefix: 'model',
  ignoreUnexpected: [/\.rotary_emb\.inv_freq$/],
};
const gpt2: ArchitectureEntry = {
  build: (c, rng) => new GPT2LMHeadModel(c, { rng }),
  basePrefix: 'transformer',
  ignoreUnexpected: [/(^|\.)attn\.(masked_)?bias$/],
};
const bertIgnore = [/(^|\.)embeddings\.position_ids$/];

/** `architectures[0]` of config.json → how to build it. */
export const ARCHITECTURES: Readonly<Record<string, ArchitectureEntry>> = {
  LlamaForCausalLM: llama,
  MistralForCausalLM: llama,
  Qwen2ForCausalLM: llama,
  GPT2LMHeadModel: gpt2,
  BertModel: {
    build: (c, rng) => new BertModel(c, { rng }),
    basePrefix: '',
    stripPrefix: 'bert',
    ignoreUnexpected: [...bertIgnore, /^cls\./],
  },
  BertForSequenceClassification: {
    build: (c, rng) => new BertForSequenceClassification(c, { rng }),
    basePrefix: 'bert',
    ignoreUnexpected: bertIgnore,
  },
  BertForTokenClassification: {
    build: (c, rng) => new BertForTokenClassification(c, { rng }),
    basePrefix: 'bert',
    ignoreUnexpected: [...bertIgnore, /^bert\.pooler\./],
  },
};

/** `model_type` → the class used when config.json lists no known architecture. */
export const MODEL_TYPES: Readonly<Record<string, string>> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  gpt2: 'GPT2LMHeadModel',
  bert: 'BertModel',
};

/** The architecture name a config selects: the first known `architectures` entry, else by `model_type`. */
export function resolveArchitecture(config: HfConfig, where = 'config.json'): string {
  const archs = Array.isArray(config.architectures) ? (config.architectures as unknown[]) : [];
  for (const a of archs) if (typeof a === 'string' && a in ARCHITECTURES) return a;
  const mt = config.model_type;
  if (archs.length === 0 && typeof mt === 'string' && mt in MODEL_TYPES) return MODEL_TYPES[mt];
  const named = archs.length > 0 ? `architectures ${JSON.stringify(archs)}` : `model_type ${JSON.stringify(mt)}`;
  throw new Error(
    `${where}: unsupported model (${named}); supported architectures: ${Object.keys(ARCHITECTURES).join(', ')}; ` +
      `model types: ${Object.keys(MODEL_TYPES).join(', ')}`,
  );
}

export function architectureEntry(name: string): ArchitectureEntry {
  const e = ARCHITECTURES[name];
  if (!e) throw new Error(`Unsupported architecture "${name}" (supported: ${Object.keys(ARCHITECTURES).join(', ')})`);
  return e;
}

/** Builds a model (random weights) from a config.json object. */
export function modelFromConfig(config: HfConfig, opts: { rng?: Rng } = {}): PretrainedModel {
  const arch = resolveArchitecture(config);
  const model = architectureEntry(arch).build(config, opts.rng);
  return model.eval();
}
