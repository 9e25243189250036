export { Module, joinPath, numel } from './nn/module.js';
export { LinearLike, Linear, Conv1D, Embedding, LayerNorm, RMSNorm, Dropout, linear, embeddingLookup, dropout } from './nn/layers.js';
export type { LinearLayout, LinearOptions } from './nn/layers.js';
export { Rng, getGlobalRng, setGlobalSeed, kaimingUniform } from './random.js';
export { SiteSlot, attentionPrefix, applyInputEmbeddings, applySublayerOutput, virtualTokenCount, prefixLength } from './sites.js';
export type {
  SiteKind,
  ModelDims,
  HookContext,
  LinearHook,
  EmbeddingBatch,
  InputEmbeddingsHook,
  AttentionKVHook,
  SublayerOutputHook,
  SiteHooks,
  AdapterControl,
  SiteInfo,
  SiteTable,
  PeftBaseModel,
  TokenBatch,
  ModelOutput,
} from './sites.js';
