/**
 * Hugging Face `config.json` fields for the architectures this package builds, read with
 * transformers' defaults and validated with messages that name the field.
 */

/** A raw `config.json` object. */
export type HfConfig = Record<string, unknown>;

export interface RopeScaling {
  type: 'linear';
  factor: number;
}

/** LLaMA, Mistral and Qwen2 (the same math: RMSNorm, RoPE, GQA, SwiGLU). */
export interface LlamaConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Bias on q/k/v (Qwen2 always; LLaMA's `attention_bias` also puts one on o_proj). */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  attentionDropout: number;
  tieWordEmbeddings: boolean;
  hiddenAct: string;
  /** Mistral/Qwen2 sliding window (null: none); longer key sequences are refused. */
  slidingWindow: number | null;
}

export interface GPT2Config {
  modelType: string;
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nInner: number;
  activationFunction: string;
  layerNormEpsilon: number;
  residPdrop: number;
  embdPdrop: number;
  attnPdrop: number;
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
}

export interface BertConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: string;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  numLabels: number;
  classifierDropout: number | null;
  problemType: string | null;
}

// ---- field readers ----------------------------------------------------------------------

function num(cfg: HfConfig, field: string, fallback?: number, what = 'config.json'): number {
  const v = cfg[field];
  if (v === undefined || v === null) {
    if (fallback === undefined) throw new Error(`${what}: required field "${field}" is missing`);
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what}: field "${field}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function posInt(cfg: HfConfig, field: string, fallback?: number): number {
  const v = num(cfg, field, fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`config.json: field "${field}" must be a positive integer, got ${v}`);
  return v;
}

function bool(cfg: HfConfig, field: string, fallback: boolean): boolean {
  const v = cfg[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new Error(`config.json: field "${field}" must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function str(cfg: HfConfig, field: string, fallback: string): string {
  const v = cfg[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string') throw new Error(`config.json: field "${field}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function divides(what: string, a: number, b: number, aName: string, bName: string): void {
  if (a % b !== 0) throw new Error(`${what}: ${aName} (${a}) must be divisible by ${bName} (${b})`);
}

// ---- per-architecture parsers -------------------------------------------------------------

function parseRopeScaling(cfg: HfConfig): RopeScaling | null {
  const rs = cfg.rope_scaling;
  if (rs === undefined || rs === null) return null;
  if (typeof rs !== 'object') throw new Error(`config.json: field "rope_scaling" must be an object or null, got ${JSON.stringify(rs)}`);
  const o = rs as Record<string, unknown>;
  const type = o.type ?? o.rope_type;
  if (type === 'default') return null;
  if (type !== 'linear') {
    throw new Error(`config.json: rope_scaling type ${JSON.stringify(type)} is not supported (supported: none, "linear")`);
  }
  const factor = o.factor;
  if (typeof factor !== 'number' || !(factor > 0))
    throw new Error(`config.json: rope_scaling.factor must be a positive number, got ${JSON.stringify(factor)}`);
  return { type: 'linear', factor };
}

export function parseLlamaConfig(cfg: HfConfig): LlamaConfig {
  const modelType = str(cfg, 'model_type', 'llama');
  const hiddenSize = posInt(cfg, 'hidden_size', 4096);
  const numAttentionHeads = posInt(cfg, 'num_attention_heads', 32);
  const numKeyValueHeads = posInt(cfg, 'num_key_value_heads', numAttentionHeads);
  const headDim = cfg.head_dim == null ? hiddenSize / numAttentionHeads : posInt(cfg, 'head_dim');
  if (cfg.head_dim == null) divides('config.json', hiddenSize, numAttentionHeads, 'hidden_size', 'num_attention_heads');
  divides('config.json', numAttentionHeads, numKeyValueHeads, 'num_attention_heads', 'num_key_value_heads');
  if (headDim % 2 !== 0) throw new Error(`config.json: the head dimension (${headDim}) must be even for rotary embeddings`);
  const hiddenAct = str(cfg, 'hidden_act', 'silu');
  if (hiddenAct !== 'silu' && hiddenAct !== 'swish') {
    throw new Error(`config.json: hidden_act "${hiddenAct}" is not supported for ${modelType} (supported: silu)`);
  }
  const isQwen2 = modelType === 'qwen2';
  const attentionBias = bool(cfg, 'attention_bias', false);
  // Sliding-window attention (Mistral, Qwen2 with use_sliding_window) equals full attention while
  // the keys fit in the window; the model refuses longer sequences.
  const slidingWindow =
    (modelType === 'mistral' || (isQwen2 && bool(cfg, 'use_sliding_window', false))) && cfg.sliding_window != null
      ? posInt(cfg, 'sliding_window')
      : null;
  return {
    modelType,
    vocabSize: posInt(cfg, 'vocab_size', 32000),
    hiddenSize,
    intermediateSize: posInt(cfg, 'intermediate_size', 11008),
    numHiddenLayers: posInt(cfg, 'num_hidden_layers', 32),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    maxPositionEmbeddings: posInt(cfg, 'max_position_embeddings', 2048),
    rmsNormEps: num(cfg, 'rms_norm_eps', 1e-6),
    ropeTheta: num(cfg, 'rope_theta', 10000),
    ropeScaling: parseRopeScaling(cfg),
    qkvBias: isQwen2 ? true : attentionBias,
    oBias: isQwen2 ? false : attentionBias,
    mlpBias: bool(cfg, 'mlp_bias', false),
    attentionDropout: num(cfg, 'attention_dropout', 0),
    tieWordEmbeddings: bool(cfg, 'tie_word_embeddings', false),
    hiddenAct,
    slidingWindow,
  };
}

export function parseGPT2Config(cfg: HfConfig): GPT2Config {
  const nEmbd = posInt(cfg, 'n_embd', 768);
  const nHead = posInt(cfg, 'n_head', 12);
  divides('config.json', nEmbd, nHead, 'n_embd', 'n_head');
  const activationFunction = str(cfg, 'activation_function', 'gelu_new');
  if (!(activationFunction in ACTIVATIONS)) {
    throw new Error(
      `config.json: activation_function "${activationFunction}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  }
  return {
    modelType: str(cfg, 'model_type', 'gpt2'),
    vocabSize: posInt(cfg, 'vocab_size', 50257),
    nPositions: posInt(cfg, 'n_positions', 1024),
    nEmbd,
    nLayer: posInt(cfg, 'n_layer', 12),
    nHead,
    nInner: cfg.n_inner == null ? 4 * nEmbd : posInt(cfg, 'n_inner'),
    activationFunction,
    layerNormEpsilon: num(cfg, 'layer_norm_epsilon', 1e-5),
    residPdrop: num(cfg, 'resid_pdrop', 0.1),
    embdPdrop: num(cfg, 'embd_pdrop', 0.1),
    attnPdrop: num(cfg, 'attn_pdrop', 0.1),
    scaleAttnWeights: bool(cfg, 'scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: bool(cfg, 'scale_attn_by_inverse_layer_idx', false),
  };
}

/** Activation names Hugging Face configs use, as this package implements them. */
export const ACTIVATIONS = {
  gelu: 'gelu',
  gelu_new: 'gelu_new',
  gelu_pytorch_tanh: 'gelu_new',
  gelu_fast: 'gelu_new',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
  tanh: 'tanh',
} as const;
export type ActivationName = keyof typeof ACTIVATIONS;

export function parseBertConfig(cfg: HfConfig): BertConfig {
  const hiddenSize = posInt(cfg, 'hidden_size', 768);
  const numAttentionHeads = posInt(cfg, 'num_attention_heads', 12);
  divides('config.json', hiddenSize, numAttentionHeads, 'hidden_size', 'num_attention_heads');
  const hiddenAct = str(cfg, 'hidden_act', 'gelu');
  if (!(hiddenAct in ACTIVATIONS)) {
    throw new Error(`config.json: hidden_act "${hiddenAct}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  }
  const pet = str(cfg, 'position_embedding_type', 'absolute');
  if (pet !== 'absolute') throw new Error(`config.json: position_embedding_type "${pet}" is not supported (supported: absolute)`);
  let numLabels = 2;
  if (cfg.num_labels != null) numLabels = posInt(cfg, 'num_labels');
  else if (cfg.id2label && typeof cfg.id2label === 'object') numLabels = Object.keys(cfg.id2label as object).length;
  const cd = cfg.classifier_dropout;
  return {
    modelType: str(cfg, 'model_type', 'bert'),
    vocabSize: posInt(cfg, 'vocab_size', 30522),
    hiddenSize,
    numHiddenLayers: posInt(cfg, 'num_hidden_layers', 12),
    numAttentionHeads,
    intermediateSize: posInt(cfg, 'intermediate_size', 3072),
    hiddenAct,
    hiddenDropoutProb: num(cfg, 'hidden_dropout_prob', 0.1),
    attentionProbsDropoutProb: num(cfg, 'attention_probs_dropout_prob', 0.1),
    maxPositionEmbeddings: posInt(cfg, 'max_position_embeddings', 512),
    typeVocabSize: posInt(cfg, 'type_vocab_size', 2),
    layerNormEps: num(cfg, 'layer_norm_eps', 1e-12),
    numLabels,
    classifierDropout: cd == null ? null : num(cfg, 'classifier_dropout'),
    problemType: cfg.problem_type == null ? null : str(cfg, 'problem_type', ''),
  };
}
