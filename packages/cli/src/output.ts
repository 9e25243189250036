import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ADAPTER_CONFIG_NAME } from '@peftjs/core';
import { LOCK_FILE, recoverFolder, writeJsonAtomic } from '@peftjs/core/io';
import { LATEST_NAME, METRICS_NAME } from '@peftjs/train';
import { UsageError } from './errors.js';

/**
 * Checks, before anything is loaded, that `out` is a folder we can write, or can be created
 * under one: not under a file, not in a read-only or virtual file system (`/proc`, `/sys`).
 * A probe folder is made and removed; nothing else changes.
 */
export async function checkOutputLocation(flag: string, out: string): Promise<void> {
  const target = resolve(out);
  let at = target;
  for (;;) {
    const s = await stat(at).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
      throw new UsageError(`${flag} ${out}: ${e.message}`);
    });
    if (s?.isDirectory()) break;
    if (s)
      throw new UsageError(at === target ? `${flag} ${out}: is a file, not a folder` : `${flag} ${out}: ${at} is a file, not a folder`);
    if (dirname(at) === at) throw new UsageError(`${flag} ${out}: no existing folder above it`);
    at = dirname(at);
  }
  try {
    await rmdir(await mkdtemp(join(at, `.peftjs-tmp-p${process.pid}-probe-`)));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`${flag} ${out}: cannot write in ${at} (${code}: read-only, not permitted, or not a real folder)`);
  }
}

/** Files and folders a peft run writes in its output folder. */
const RUN_FILES = [METRICS_NAME, LATEST_NAME, 'report.html', 'run.json'];
const isRunFile = (n: string) => RUN_FILES.includes(n) || /^checkpoint-\d+$/.test(n);

/**
 * Makes `out` ready for a new run. A folder holding anything (but our lock and temps) is refused
 * unless `overwrite`: then the previous run's metrics, checkpoints, report and record are removed;
 * its adapter stays until the new run saves one. Crash leftovers are swept.
 */
export async function prepareNewRun(out: string, overwrite: boolean): Promise<void> {
  await recoverFolder(out);
  const present = (await readdir(out).catch(() => [] as string[])).filter((n) => n !== LOCK_FILE && !n.startsWith('.peftjs-tmp-'));
  if (present.length === 0) return;
  if (!overwrite) {
    const shown = present.slice(0, 4).join(', ') + (present.length > 4 ? `, … (${present.length} in all)` : '');
    throw new UsageError(
      `--out ${out} is not empty (${shown}): give --resume to continue its run, --overwrite to replace it, or another folder`,
    );
  }
  for (const n of present.filter(isRunFile)) await rm(join(out, n), { recursive: true, force: true });
}

/** What a run was started with, kept in `run.json`: `--resume` refuses other inputs. */
export interface RunRecord {
  data: string;
  data_sha256: string;
  valid: string | null;
  valid_sha256: string | null;
  val_split: number;
  max_length: number;
  batch_size: number;
  grad_accum: number;
  seed: number;
  method: string;
  adapter_config: Record<string, unknown>;
}

export async function fileSha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

export async function writeRunRecord(out: string, record: RunRecord): Promise<void> {
  await writeJsonAtomic(join(out, 'run.json'), record);
}

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** The differences between a recorded run and a resumed one: `--data (was a.jsonl, now b.jsonl)`. */
function differences(was: RunRecord, now: RunRecord): string[] {
  const out: string[] = [];
  const flags: Array<[keyof RunRecord, string]> = [
    ['data', '--data'],
    ['valid', '--valid'],
    ['val_split', '--val-split'],
    ['max_length', '--max-length'],
    ['batch_size', '--batch-size'],
    ['grad_accum', '--grad-accum'],
    ['seed', '--seed'],
    ['method', '--method'],
  ];
  for (const [k, flag] of flags) if (show(was[k]) !== show(now[k])) out.push(`${flag} (was ${show(was[k])}, now ${show(now[k])})`);
  if (was.data === now.data && was.data_sha256 !== now.data_sha256)
    out.push(`the contents of --data ${now.data} (changed since the run started)`);
  if (was.valid === now.valid && was.valid_sha256 !== now.valid_sha256)
    out.push(`the contents of --valid ${now.valid} (changed since the run started)`);
  const keys = new Set([...Object.keys(was.adapter_config ?? {}), ...Object.keys(now.adapter_config)]);
  for (const k of [...keys].sort()) {
    if (k === 'inference_mode' || k === 'base_model_name_or_path') continue;
    const [a, b] = [was.adapter_config?.[k], now.adapter_config[k]];
    if (show(a) !== show(b)) out.push(`method option ${k} (was ${show(a)}, now ${show(b)})`);
  }
  return out;
}

/**
 * `--resume` preconditions: `out` has a checkpoint and the run record, and the data, batch and
 * method config are those the run started with. Each failure is a usage error naming what differs.
 */
export async function checkResume(out: string, now: RunRecord, checkpoint: string): Promise<void> {
  let was: RunRecord;
  try {
    was = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as RunRecord;
  } catch (e) {
    throw new UsageError(
      `--resume: ${join(out, 'run.json')}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing (not a peft train output folder?)' : (e as Error).message}`,
    );
  }
  const ckptConfig = JSON.parse(await readFile(join(checkpoint, ADAPTER_CONFIG_NAME), 'utf8').catch(() => 'null')) as Record<
    string,
    unknown
  > | null;
  const diff = differences({ ...was, adapter_config: ckptConfig ?? was.adapter_config }, now);
  if (diff.length) throw new UsageError(`--resume: this run differs from the one in ${out}: ${diff.join('; ')}`);
}
