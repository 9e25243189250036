export type { HfConfig, LlamaConfig, GPT2Config, BertConfig, RopeScaling } from './config.js';
export { parseLlamaConfig, parseGPT2Config, parseBertConfig, ACTIVATIONS } from './config.js';
export {
  FLOAT32_MIN,
  geluExact,
  geluNew,
  silu,
  activation,
  attentionBias,
  scaledDotProductAttention,
  crossEntropyIgnore,
  causalLmLoss,
} from './ops.js';
export { chunkedCausalLmLoss } from './chunked-loss.js';
export { recomputeLayer, runLayers, layerTrainableVariables } from './recompute.js';
export type { RecomputedLayer, LayerLoop } from './recompute.js';
export { inverseFrequencies, rotaryCosSin, rotateHalf, applyRotary } from './rope.js';
export { KVCache } from './cache.js';
export type { ModelBatch, AttentionStep } from './step.js';
export { makeSiteTable, ModuleList, callChild, preNormBlock } from './site-table.js';
export type { SitePaths, TensorModule } from './site-table.js';
export { LlamaForCausalLM, LlamaModel, LlamaDecoderLayer, LlamaAttention, LlamaMLP } from './llama.js';
export type { InitOptions } from './llama.js';
export { GPT2LMHeadModel, GPT2Model, GPT2Block, GPT2Attention, GPT2MLP } from './gpt2.js';
export { BertModel, BertEmbeddings, BertLayer, BertSelfAttention, BertResidualOutput } from './bert.js';
export type { BertModelOutput } from './bert.js';
export { BertForSequenceClassification, BertForTokenClassification, sequenceClassificationLoss } from './bert-heads.js';
export { ARCHITECTURES, MODEL_TYPES, resolveArchitecture, modelFromConfig } from './registry.js';
export type { PretrainedModel, CausalLMModel } from './registry.js';
export { loadWeights, describeProblems } from './load.js';
export { loadModel, loadModelWithReport } from './pretrained.js';
export type { LoadOptions, LoadReport } from './load.js';
export { generate, generateStream, generativeModel, sampleToken, argmax } from './generate.js';
export type { GenerateOptions, GenerateResult, GenerationStep, GenerativeModel } from './generate.js';
export { PretrainedTokenizer, loadTokenizer } from './tokenizer.js';
export type { ChatMessage, ChatTemplateOptions, EncodeOptions, BatchEncodeOptions } from './tokenizer.js';
export { SkipInitRng } from './init.js';
export { loadGenerationConfig } from './generation-config.js';
export type { GenerationDefaults } from './generation-config.js';
