/** Messages between the page (main thread) and the training worker. */
import type { TrainEvent } from '@peftjs/train';
import type { BackendChoice, PageBackend } from './backend.js';

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
}

export interface ModelInfo {
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
  generate: { args: { prompt: string; maxNewTokens: number }; result: { base: string; adapter: string | null } };
  save: { args: Record<string, never>; result: { files: AdapterFile[]; tensors: Record<string, { shape: number[]; sum: number }> } };
  loadAdapter: { args: { files: PickedFile[] }; result: { peftType: string; trainableLine: string } };
  forgetCached: { args: { name: string }; result: { cached: string[] } };
}

export type Op = keyof Requests;

export type RequestMessage =
  | { [K in Op]: { id: number; op: K; args: Requests[K]['args'] } }[Op]
  | { id: number; op: 'stop'; args: Record<string, never> };

export type WorkerMessage =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  | { event: 'train'; e: TrainEvent; totalSteps: number }
  | { event: 'status'; text: string }
  | { event: 'token'; which: 'base' | 'adapter'; piece: string };
