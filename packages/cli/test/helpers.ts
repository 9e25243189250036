import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type Io } from '../src/main.js';
import { demoPaths } from '../src/commands/demo.js';

export interface RunResult {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process with captured output. */
export async function peft(...argv: string[]): Promise<RunResult> {
  let out = '';
  let err = '';
  const io: Io = { out: (l) => (out += `${l}\n`), err: (l) => (err += `${l}\n`), write: (t) => (out += t), isTTY: false };
  const code = await main(argv, io);
  return { code, out, err };
}

export const tmp = (prefix = 'peftjs-cli-') => mkdtempSync(join(tmpdir(), prefix));
export const paths = demoPaths();

/** `train` on the bundled model and riddles (train + valid split) into `out`; more flags follow. */
export const bundledTrain = (out: string, ...more: string[]) => [
  'train',
  '--model',
  paths.model,
  '--data',
  paths.train,
  '--valid',
  paths.valid,
  '--out',
  out,
  ...more,
];
