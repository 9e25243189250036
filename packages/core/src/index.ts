export { Module, joinPath, numel, sameShape } from './nn/module.js';
export { LinearLike, Linear, Conv1D, Embedding, LayerNorm, RMSNorm, Dropout, linear, embeddingLookup, dropout } from './nn/layers.js';
export type { LinearLayout, LinearOptions } from './nn/layers.js';
export { Rng, getGlobalRng, setGlobalSeed, kaimingUniform } from './random.js';
export { SiteSlot, attentionPrefix, applyInputEmbeddings, applySublayerOutput, virtualTokenCount, prefixLength, prependVirtualTokens } from './sites.js';
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
export { PROMPT_LEARNING_DEFAULTS, checkPromptLearningFields, fillFromModel } from './prompt-learning.js';
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
export {
  DEFAULT_LORA_TARGET_MODULES,
  matchesTarget,
  selectLinearTargets,
  linearModules,
  allLinearNames,
  closestNames,
  editDistance,
} from './targets.js';
export type { TargetSelector, TargetRules } from './targets.js';
export { PeftModel, getPeftModel, BASE_ADAPTER } from './peft-model.js';
export type { PeftModelOptions, AddAdapterOptions, ParameterCount } from './peft-model.js';
export {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  adapterStateDict,
  loadAdapterStateDict,
  adapterConfigJSON,
  saveAdapter,
  loadAdapter,
  readAdapterConfig,
  fromPretrained,
} from './adapter-io.js';
export { encodeParameters, withDecodedTensors, checkTensorShapes, checkSameOutput } from './extra-files.js';
export { definePeftOp, registerPeftKernel } from './ops/custom-op.js';
export type { PeftOp, PeftOpSpec, PeftKernelArgs } from './ops/custom-op.js';
export { loraMatMul } from './ops/lora-matmul.js';
export type { LoraMatMulAttrs } from './ops/lora-matmul.js';
export { nf4MatMul, dequantizeNf4, bytesToInt32Words } from './ops/nf4-matmul.js';
export type { Nf4MatMulAttrs, Nf4MatMulInput } from './ops/nf4-matmul.js';
export { weightFormats } from './weight-formats.js';
export { blockScale, midpoints, nearestCode, quantizeBlockwise8bit, dequantizeBlockwise8bit, createDynamicMap } from './quant/blockwise.js';
export type { CheckpointTensorInfo, QuantizeRequest, WeightFormat, WeightFormatContext, WeightFormatSession } from './weight-formats.js';
export { requireGradients } from './gradients.js';
export {
  parseSafetensors,
  decodeEntry,
  entryToTensor,
  decodeTensors,
  serializeSafetensors,
  serializeEntries,
  dtypeItemSize,
  f32ToF16,
  f16ToF32,
  f32ToBf16,
  bf16ToF32,
  SAFETENSORS_DTYPES,
  f32ToF16Bits,
  f32ToBf16Bits,
  f16BitsToF32,
  bf16BitsToF32,
} from './io/safetensors.js';
export type { PythonJsonOptions } from './io/fs.js';
export type { SafetensorsDtype, SafetensorsEntry, SafetensorsFile, TensorSource, SerializeOptions } from './io/safetensors.js';
export {
  writeFileAtomic,
  readFileBytes,
  readJsonFile,
  writeJsonAtomic,
  formatPythonJson,
  readSafetensorsFile,
  writeSafetensorsFile,
  pathExists,
} from './io/fs.js';
