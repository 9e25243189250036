import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {
  FolderLockedError,
  LOCK_FILE,
  lockFolder,
  recoverFolder,
  sweepTemps,
  writeFolderAtomic,
  type FolderFile,
} from '../src/io/folder.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'peftjs-folder-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MUTATING = ['rename', 'rm', 'unlink', 'open', 'writeFile', 'mkdir', 'link'] as const;

/**
 * Runs `save` until it has made `n` mutating fs calls, then freezes it there for good (the next
 * call never returns), as a process killed at that moment: what is on disk is what a crash leaves.
 * Returns whether the save finished before reaching the freeze.
 */
async function crashAfter(n: number, save: () => Promise<void>): Promise<boolean> {
  const real = Object.fromEntries(MUTATING.map((k) => [k, fsp[k]]));
  let calls = 0;
  let finished = false;
  for (const k of MUTATING) {
    (fsp as unknown as Record<string, unknown>)[k] = (...args: unknown[]) =>
      ++calls > n ? new Promise(() => undefined) : (real[k] as (...a: unknown[]) => Promise<unknown>)(...args);
  }
  syncBuiltinESMExports();
  try {
    void save().then(() => (finished = true));
    for (let i = 0; i < 400 && !finished && calls <= n; i++) await new Promise((r) => setTimeout(r, 5));
    return finished;
  } finally {
    Object.assign(fsp, real);
    syncBuiltinESMExports();
  }
}

const version = (v: string): FolderFile[] => [
  { path: 'adapter_model.safetensors', data: `weights-${v}` },
  { path: 'sub/adapter_model.safetensors', data: `sub-weights-${v}` },
  { path: 'adapter_config.json', data: `config-${v}` },
  { path: 'sub/adapter_config.json', data: `sub-config-${v}` },
];
const COMMIT = ['adapter_config.json', 'sub/adapter_config.json'];

/** What a loader that knows no recovery rule reads: each adapter is its config and its weights, or nothing. */
function naiveView(folder: string, sub = ''): string {
  const cfg = path.join(folder, sub, 'adapter_config.json');
  if (!existsSync(cfg)) return 'none';
  const c = readFileSync(cfg, 'utf8').replace(/^.*config-/, '');
  const w = readFileSync(path.join(folder, sub, 'adapter_model.safetensors'), 'utf8').replace(/^.*weights-/, '');
  return c === w ? c : `mix(${c}, ${w})`;
}

describe('writeFolderAtomic', () => {
  it('a crash after any file operation leaves no mix: old, new, or no config; recovery gives wholly old or wholly new', async () => {
    let sawEveryOutcome = { old: false, none: false, new: false };
    for (let n = 0; ; n++) {
      const folder = path.join(dir, `crash-${n}`);
      await writeFolderAtomic(folder, version('old'), { commitFiles: COMMIT });
      const finished = await crashAfter(n, () => writeFolderAtomic(folder, version('new'), { commitFiles: COMMIT }));
      for (const sub of ['', 'sub']) {
        const seen = naiveView(folder, sub);
        expect(['old', 'new', 'none'], `crash after ${n} operations, ${sub || 'top'}: ${seen}`).toContain(seen);
        sawEveryOutcome = { ...sawEveryOutcome, [seen]: true };
      }
      await recoverFolder(folder);
      const top = naiveView(folder);
      expect(['old', 'new'], `after recovery (crash after ${n})`).toContain(top);
      expect(naiveView(folder, 'sub'), `after recovery (crash after ${n})`).toBe(top);
      if (finished) break;
      expect(n).toBeLessThan(60);
    }
    expect(sawEveryOutcome).toEqual({ old: true, none: true, new: true });
  });

  it('leaves the folder unchanged and no stage behind when writing the new files fails', async () => {
    await writeFolderAtomic(dir, version('old'), { commitFiles: COMMIT });
    const bad: FolderFile[] = [
      ...version('new'),
      {
        path: 'x.bin',
        data: () => {
          throw new Error('disk full');
        },
      },
    ];
    await expect(writeFolderAtomic(dir, bad, { commitFiles: COMMIT })).rejects.toThrow(/save failed, the folder is unchanged: disk full/);
    expect(naiveView(dir)).toBe('old');
    expect((await readdir(dir)).filter((n) => n.startsWith('.peftjs'))).toEqual([]);
  });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('sweepTemps', () => {
  it('removes the temp files and stage folders of processes that are gone, and keeps live ones', async () => {
    const dead = await deadPid();
    await writeFile(path.join(dir, `.peftjs-tmp-p${dead}-adapter_model.safetensors-abc`), 'x');
    await mkdir(path.join(dir, `.peftjs-tmp-p${dead}-save-abc`));
    await writeFile(path.join(dir, `.peftjs-tmp-p${dead}-save-abc`, 'adapter_model.safetensors'), 'x');
    await writeFile(path.join(dir, '.peftjs-tmp-adapter_config.json-k2j3'), 'legacy name, no pid');
    await writeFile(path.join(dir, `.peftjs-tmp-p${process.pid}-in-progress`), 'mine');
    await writeFile(path.join(dir, 'adapter_config.json'), '{}');
    expect((await sweepTemps(dir)).sort()).toHaveLength(3);
    expect((await readdir(dir)).sort()).toEqual([`.peftjs-tmp-p${process.pid}-in-progress`, 'adapter_config.json']);
  });
});

describe('lockFolder', () => {
  it('refuses a folder another live process holds, naming the folder and the pid', async () => {
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: holder.pid }));
      const err = await lockFolder(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FolderLockedError);
      expect((err as Error).message).toContain(`${dir} is in use by another peftjs process (pid ${holder.pid}`);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over a stale lock (its process is gone), is re-entrant in one process, and releases', async () => {
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: await deadPid() }));
    const release = await lockFolder(dir);
    expect(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    const again = await lockFolder(dir);
    await again();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(true);
    await release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect((await readdir(dir)).filter((n) => n.startsWith('.peftjs'))).toEqual([]);
  });
});
