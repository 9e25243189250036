export { describeConformance, runConformanceCheck, skipReason } from './conformance/describe.js';
export { CONFORMANCE_CHECKS } from './conformance/checks.js';
export type { ConformanceCheck } from './conformance/checks.js';
export { ConformanceFixture } from './conformance/fixture.js';
export { DEFAULT_TOLERANCES, defaultApplies } from './conformance/spec.js';
export type { ConformanceApplies, ConformanceCase, ConformanceGroup, ConformanceSpec, ConformanceTolerances } from './conformance/spec.js';
export { TestMlp, createMlp, mlpBatch } from './models/mlp.js';
export type { MlpInputs, MlpOptions } from './models/mlp.js';
export { TestEmbConv1d, createEmbConv1d, embConv1dBatch } from './models/emb-conv1d.js';
export type { EmbConv1dOptions } from './models/emb-conv1d.js';
export { TEST_MODELS } from './models/index.js';
export type { BatchOptions, TestModelName, TestModelSpec } from './models/index.js';
export { crossEntropyLoss, mseLoss, testLoss } from './models/losses.js';
export type { TestLoss } from './models/losses.js';
export {
  TrainLoop,
  adapterVariables,
  disposeInputs,
  forwardLogits,
  maxAbsDiff,
  maxDiffFromSnapshot,
  snapshot,
  trainSteps,
  withTmpDir,
} from './helpers.js';
export type { Forwardable, TrainOptions } from './helpers.js';
export { expectRecomputationMatches } from './recompute.js';
export type { RecomputationCase, RecomputationReport } from './recompute.js';
