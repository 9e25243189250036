import * as tf from '@tensorflow/tfjs-core';
import {
  ADAPTER_WEIGHTS_NAME,
  adapterCommitFiles,
  adapterFiles,
  adapterStateDict,
  loadAdapterStateDict,
  type PeftModel,
} from '@peftjs/core';
import {
  decodeTensors,
  formatPythonJson,
  pathExists,
  readFileBytes,
  readJsonFile,
  recoverFolder,
  serializeSafetensors,
  writeFileAtomic,
  writeFolderAtomic,
} from '@peftjs/core/io';
import type { LossPoint } from './diagnostics.js';
import type { OptimizerState } from './optimizers.js';

export const TRAINER_STATE_NAME = 'trainer_state.json';
export const OPTIMIZER_STATE_NAME = 'optimizer.safetensors';
export const LATEST_NAME = 'latest';

/** Everything besides tensors a run needs to continue exactly: `trainer_state.json`. */
export interface TrainerState {
  format: 'peftjs-trainer';
  version: 1;
  /** Optimizer steps taken, skipped ones included. */
  step: number;
  /** Data position: the epoch and the index of the next example in that epoch's order. */
  epoch: number;
  position: number;
  seed: number;
  /** State of the generator the model's dropout uses. */
  rng_state: number[];
  optimizer: OptimizerState['info'];
  adapters: string[];
  best_val_loss: number | null;
  evals_without_improvement: number;
  non_finite_in_row: number;
  skipped_steps: number;
  elapsed_s: number;
  train_losses: LossPoint[];
  val_losses: LossPoint[];
}

/** `checkpoint-<step>` in `outputDir`. */
export function checkpointDir(outputDir: string, step: number): string {
  return `${outputDir.replace(/\/+$/, '')}/checkpoint-${step}`;
}

function adapterSubdir(dir: string, name: string): string {
  return name === 'default' ? dir : `${dir}/${name}`;
}

/**
 * Writes a checkpoint as one atomic folder save (see `writeFolderAtomic`): the adapters (PEFT
 * files), the optimizer state and `trainer_state.json`, which is put in place last and marks the
 * folder complete; then the `latest` pointer in `outputDir`. A crash at any point leaves the
 * previous checkpoint as the latest complete one; non-finite weights are refused.
 */
export async function saveCheckpoint<I, O>(
  outputDir: string,
  model: PeftModel<I, O>,
  optimizer: OptimizerState,
  state: TrainerState,
): Promise<string> {
  const dir = checkpointDir(outputDir, state.step);
  // the values on the CPU first (await data()): the safetensors writer reads them synchronously,
  // which WebGPU in a browser worker cannot do
  const tensors = [...state.adapters.flatMap((n) => [...adapterStateDict(model.adapter(n)).values()]), ...optimizer.tensors.values()];
  await Promise.all(tensors.map((t) => t.data()));
  const adapters = adapterFiles(model, { adapterNames: state.adapters });
  const files = [
    ...adapters,
    {
      path: OPTIMIZER_STATE_NAME,
      data: () => serializeSafetensors(optimizer.tensors, { metadata: { format: 'peftjs-optimizer', optimizer: optimizer.info.name } }),
    },
    { path: TRAINER_STATE_NAME, data: formatPythonJson(state) },
  ];
  await writeFolderAtomic(dir, files, { commitFiles: [...adapterCommitFiles(adapters), TRAINER_STATE_NAME] });
  await writeFileAtomic(`${outputDir.replace(/\/+$/, '')}/${LATEST_NAME}`, `checkpoint-${state.step}\n`);
  return dir;
}

/** The checkpoint folder `latest` names in `dir`, or `dir` itself when it is a checkpoint. */
export async function resolveCheckpoint(dir: string): Promise<string> {
  const base = dir.replace(/\/+$/, '');
  await recoverFolder(base);
  if (await pathExists(`${base}/${TRAINER_STATE_NAME}`)) return base;
  if (await pathExists(`${base}/${LATEST_NAME}`)) {
    const fs = await import('node:fs/promises');
    const name = (await fs.readFile(`${base}/${LATEST_NAME}`, 'utf8')).trim();
    await recoverFolder(`${base}/${name}`);
    return `${base}/${name}`;
  }
  throw new Error(`${dir}: no checkpoint (neither ${TRAINER_STATE_NAME} nor a "${LATEST_NAME}" pointer)`);
}

export interface LoadedCheckpoint {
  dir: string;
  state: TrainerState;
  /** Optimizer tensors; the caller disposes them. */
  optimizer: OptimizerState;
}

/**
 * Reads a checkpoint and loads its adapter weights into `model` (adapters of the same names and
 * configs must exist). Returns the trainer state and the optimizer tensors.
 */
export async function loadCheckpoint<I, O>(dir: string, model: PeftModel<I, O>): Promise<LoadedCheckpoint> {
  const ckpt = await resolveCheckpoint(dir);
  const state = await readJsonFile<TrainerState>(`${ckpt}/${TRAINER_STATE_NAME}`);
  if (state?.format !== 'peftjs-trainer' || state.version !== 1)
    throw new Error(`${ckpt}/${TRAINER_STATE_NAME}: not a peftjs trainer state (version 1)`);
  for (const name of state.adapters) {
    const path = `${adapterSubdir(ckpt, name)}/${ADAPTER_WEIGHTS_NAME}`;
    const tensors = await readTensors(path);
    try {
      loadAdapterStateDict(model.adapter(name), tensors, path);
    } finally {
      tf.dispose([...tensors.values()]);
    }
  }
  const tensors = await readTensors(`${ckpt}/${OPTIMIZER_STATE_NAME}`);
  return { dir: ckpt, state, optimizer: { tensors, info: state.optimizer } };
}

/** The tensors of a safetensors file (the caller disposes them); errors name the path. */
async function readTensors(path: string): Promise<Map<string, tf.Tensor>> {
  return decodeTensors(await readFileBytes(path), path);
}
