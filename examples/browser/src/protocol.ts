/** Messages between the page (main thread) and the training worker. */
import type { TrainEvent } from '@peftjs/train';
import type { BackendChoice, PageBackend } from './backend.js';
import type { Point } from './chart.js';

/** A file the user picked, by its path inside the picked folder. */
export interface PickedFile {
  path: string;
  file: Blob;
}

export type ModelSource = { kind: 'bundled' } | { kind: 'files'; name: string; files: PickedFile[] } | { kind: 'cached'; name: string };
export type DataSource = { kind: 'bundled' } | { kind: 'file'; name: string; text: string };

export interface TrainSettings {
  steps: number;
  learningRate: number;
  batchSize: number;
  maxLength: number;
  evalEvery: number;
  valSplit: number;
  warmupSteps: number;
  seed: number;
  /** Checkpoint every N steps (stored in the browser, see checkpoints.ts); 0: only at the end. */
  saveEvery: number;
}

/** A run whose latest checkpoint is stored in the browser (IndexedDB), offered as "Resume from step N". */
export interface StoredRun {
  /** SHA-256 of model, data, method, options and settings: the same key, the same run. */
  key: string;
  /** The stored checkpoint's step. */
  step: number;
  totalSteps: number;
  /** The model and data it trained on (`ModelInfo.id`, `DataInfo.id`). */
  model: string;
  data: string;
  method: string;
  options: Record<string, unknown>;
  settings: TrainSettings;
  /** val_loss before the first step (the chart's step 0), when measured. */
  valBefore: number | null;
  /** When it was stored (ms since 1970). */
  savedAt: number;
}

export interface ModelInfo {
  /** What identifies the weights in a run's key: name, architecture and size. */
  id: string;
  name: string;
  architecture: string;
  parameters: number;
  layers: number;
  hidden: number;
  vocab: number;
  /** Where the weights came from: "bundled", "picked folder (cached in this browser)", "browser cache". */
  from: string;
}

export interface DataInfo {
  /** What identifies the examples in a run's key: source, a SHA-256 of the text, max length, split. */
  id: string;
  name: string;
  format: string;
  train: number;
  validation: number;
  truncated: number;
  warnings: string[];
  /** A few prompts of the validation set, for "Try it". */
  examples: string[];
}

export interface TrainSummary {
  step: number;
  totalSteps: number;
  stopReason: string;
  diagnosis: { case: string; summary: string; suggestions: string[] };
  trainableLine: string;
  lastValLoss: number | null;
}

export interface AdapterFile {
  name: string;
  bytes: Uint8Array;
}

export interface Requests {
  init: { args: { backend: BackendChoice }; result: { backend: PageBackend; methods: string[]; cached: string[] } };
  loadModel: { args: { source: ModelSource }; result: ModelInfo };
  loadData: { args: { source: DataSource; maxLength: number; valSplit: number }; result: DataInfo };
  train: { args: { method: string; options: Record<string, unknown>; settings: TrainSettings }; result: TrainSummary };
  resume: { args: Record<string, never>; result: TrainSummary };
  /** The newest stored run on the loaded model and data, if any. */
  storedRun: { args: Record<string, never>; result: StoredRun | null };
  /** Continues a stored run from its checkpoint (same optimizer state, data order and schedule). */
  resumeStored: { args: { key: string }; result: TrainSummary };
  generate: { args: { prompt: string; maxNewTokens: number }; result: { base: string; adapter: string | null } };
  save: { args: Record<string, never>; result: { files: AdapterFile[]; tensors: Record<string, { shape: number[]; sum: number }> } };
  loadAdapter: { args: { files: PickedFile[] }; result: { peftType: string; trainableLine: string } };
  forgetCached: { args: { name: string }; result: { cached: string[] } };
}

export type Op = keyof Requests;

export type RequestMessage =
  | { [K in Op]: { id: number; op: K; args: Requests[K]['args'] } }[Op]
  | { id: number; op: 'stop'; args: Record<string, never> }
  /** A test hook: destroys the WebGPU device (as a driver reset or a background tab would lose it). */
  | { id: number; op: 'loseDevice'; args: Record<string, never> };

export type WorkerMessage =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  | { event: 'train'; e: TrainEvent; totalSteps: number }
  | { event: 'status'; text: string }
  /** The checkpoint of `run.step` is stored in the browser. */
  | { event: 'stored'; run: StoredRun }
  /** The loss history of a run restored from a checkpoint, before it continues. */
  | { event: 'history'; loss: Point[]; val: Point[]; totalSteps: number }
  /** The WebGPU device is lost: the page starts a new worker and resumes from the stored checkpoint. */
  | { event: 'device-lost'; why: string }
  | { event: 'token'; which: 'base' | 'adapter'; piece: string };
