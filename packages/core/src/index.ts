export { Module, joinPath, numel, sameShape } from './nn/module.js';
export { LinearLike, Linear, Conv1D, Embedding, LayerNorm, RMSNorm, Dropout, linear, embeddingLookup, dropout } from './nn/layers.js';
export type { LinearLayout, LinearOptions } from './nn/layers.js';
export { Rng, getGlobalRng, setGlobalSeed, kaimingUniform, recordSeeds, replaySeeds } from './random.js';
export {
  SiteSlot,
  attentionPrefix,
  applyInputEmbeddings,
  applySublayerOutput,
  virtualTokenCount,
  prefixLength,
  prependVirtualTokens,
} from './sites.js';
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
export { PROMPT_LEARNING_FIELDS, PROMPT_EMBEDDINGS, ENCODER_FILE, fillFromModel } from './prompt-learning.js';
export { field, defineConfigFields, showValue } from './config-fields.js';
export type { Field, FieldError, ConfigKit, ConfigOf, ConfigValues } from './config-fields.js';
export type { PromptLearningFields } from './prompt-learning.js';
export { definePeftMethod } from './method.js';
export type {
  PeftConfigBase,
  PeftConfigRegistry,
  PeftConfigFor,
  PeftMethodMeta,
  PeftMethod,
  PeftMethodDefinition,
  MethodConfigSpec,
  MethodStateSpec,
  InjectionContext,
  AttachOptions,
  AttachedHook,
  AdapterRecord,
  LinearTarget,
  TrainingHooks,
  TrainingHookContext,
  StepEndInfo,
} from './method.js';
export { PeftRegistry, registry } from './registry.js';
export { matchesTarget, selectLinearTargets, linearModules, allLinearNames, closestNames, editDistance } from './targets.js';
export type { TargetSelector, TargetRules } from './targets.js';
export { PeftModel, getPeftModel, BASE_ADAPTER } from './peft-model.js';
export type { PeftModelOptions, AddAdapterOptions } from './peft-model.js';
export type { ParameterCount } from './peft-parameters.js';
export {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  adapterStateDict,
  loadAdapterStateDict,
  adapterConfigJSON,
  saveAdapter,
  adapterFiles,
  adapterCommitFiles,
  loadAdapter,
  readAdapterConfig,
  fromPretrained,
} from './adapter-io.js';
export {
  encodeParameters,
  withDecodedTensors,
  withDecodedTensorsAsync,
  checkTensorShapes,
  checkSameOutput,
  checkSameOutputAsync,
} from './extra-files.js';
export { definePeftOp, registerPeftKernel } from './ops/custom-op.js';
export type { PeftOp, PeftOpSpec, PeftKernelArgs } from './ops/custom-op.js';
export { loraMatMul } from './ops/lora-matmul.js';
export type { LoraMatMulAttrs } from './ops/lora-matmul.js';
export { nf4MatMul, dequantizeNf4, bytesToInt32Words } from './ops/nf4-matmul.js';
export type { Nf4MatMulAttrs, Nf4MatMulInput } from './ops/nf4-matmul.js';
export { weightFormats } from './weight-formats.js';
export { blockScale, midpoints, nearestCode, quantizeBlockwise8bit, dequantizeBlockwise8bit, createDynamicMap } from './quant/blockwise.js';
export type { CheckpointTensorInfo, QuantizeRequest, WeightFormat, WeightFormatContext, WeightFormatSession } from './weight-formats.js';
export { crossEntropy, crossEntropyGrad, IGNORE_INDEX } from './ops/cross-entropy.js';
export { maskedSoftmax, softmaxGrad } from './ops/masked-softmax.js';
export { rotary } from './ops/rotary.js';
export type { RotaryAttrs } from './ops/rotary.js';
export { rmsNorm, rmsNormGrad } from './ops/rms-norm.js';
export type { RmsNormAttrs } from './ops/rms-norm.js';
export { swiGlu, swiGluGrad } from './ops/swiglu.js';
export { adamUpdate, ema } from './ops/adamw.js';
export type { AdamUpdateAttrs, EmaAttrs } from './ops/adamw.js';
export { requireGradients } from './gradients.js';
