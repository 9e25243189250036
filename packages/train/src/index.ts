export { Trainer } from './trainer.js';
export { evaluateModel, evaluateModelAsync } from './evaluate.js';
export type { EvalResult, EvaluableModel } from './evaluate.js';
export type { TrainerOptions, EarlyStoppingOptions, TrainResult, StopReason } from './options.js';
export { AdamW, SGD, globalNorm, clipByGlobalNorm, clipCoefficient } from './optimizers.js';
export { AdamW8bit, MIN_8BIT_SIZE, STATE_BLOCK_SIZE } from './adamw8bit.js';
export type { Optimizer, OptimizerState, AdamWOptions, SgdOptions, NamedVariable } from './optimizers.js';
export { scheduleFactor, learningRateAt } from './schedules.js';
export type { ScheduleKind, ScheduleOptions, LearningRateSchedule } from './schedules.js';
export { collectTrainingHooks } from './hooks.js';
export type { TrainingHooks, TrainingHookContext, StepEndInfo, BoundHooks } from './hooks.js';
export { parseJsonl, detectFormat, encodeRecords, buildDataset, loadJsonlDataset, collateExamples, countTokens } from './data.js';
export type {
  Tokenizer,
  ChatMessage,
  DataFormat,
  EncodedExample,
  JsonlRecord,
  EncodeOptions,
  EncodedData,
  DatasetOptions,
  Dataset,
} from './data.js';
export {
  lossTrend,
  diagnoseRun,
  scaledLearningRate,
  batchSizeAdvice,
  gradientFlow,
  frozenFingerprint,
  changedFrozen,
} from './diagnostics.js';
export type { LossPoint, Trend, TrendStats, RunCase, RunDiagnosis, TrendOptions, GradientFlowReport } from './diagnostics.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  resolveCheckpoint,
  checkpointDir,
  TRAINER_STATE_NAME,
  OPTIMIZER_STATE_NAME,
  LATEST_NAME,
} from './checkpoint.js';
export type { TrainerState, LoadedCheckpoint } from './checkpoint.js';
export { MetricsLog, parseMetrics, METRICS_NAME } from './metrics.js';
export type { TrainEvent } from './metrics.js';
