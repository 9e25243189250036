// Folders on disk as units: a set of files saved all-or-nothing, crash leftovers swept, and an
// exclusive lock for the life of a run. Node modules load lazily, so core stays browser-importable.
import { TEMP_PREFIX, ownPid, syncDirectory, writeFileAtomic } from './fs.js';

/** A file of a folder save: its path inside the folder (`a.json` or `sub/a.json`) and its bytes. */
export interface FolderFile {
  path: string;
  /** The bytes, or a function making them when the file is written (one file in memory at a time). */
  data: Uint8Array | string | (() => Uint8Array | string | Promise<Uint8Array | string>);
}

export interface FolderSaveOptions {
  /**
   * The files whose presence says the folder is complete (`adapter_config.json`, `config.json`,
   * `trainer_state.json`): removed before any other file is replaced and put in place last.
   */
  commitFiles: readonly string[];
}

/** The journal of a save being put in place; while it exists, `recoverFolder` finishes the save. */
export const COMMIT_JOURNAL = '.peftjs-commit.json';
export const LOCK_FILE = '.peftjs-lock';

interface Journal {
  stage: string;
  /** In the order they are put in place: other files first, commit files last. */
  files: string[];
  commitFiles: string[];
}

const ownTemp = (what: string) => `${TEMP_PREFIX}p${ownPid()}-${what}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/**
 * Saves `files` into `dir` so that no loader sees new files beside old ones:
 * 1. every file is written (and synced) into a stage folder `dir/.peftjs-tmp-p<pid>-save-…`;
 * 2. the journal `.peftjs-commit.json` names the stage and the files (the commit point);
 * 3. the old commit files are removed, the other files renamed into place, the commit files last;
 * 4. the journal and the stage are removed.
 * A crash before 2 leaves the old folder whole (the stage is swept later); after 2 a loader that
 * does not know the rule finds no commit file (a clear "missing config" error, never a mix), and
 * `recoverFolder` — run by our loaders and by the next save — finishes step 3 from the journal.
 * Files of the folder not in `files` are left as they are.
 */
export async function writeFolderAtomic(dir: string, files: readonly FolderFile[], opts: FolderSaveOptions): Promise<void> {
  const fs = await import('node:fs/promises');
  const { join } = await import('node:path');
  const commit = new Set(opts.commitFiles);
  const order = [...files.filter((f) => !commit.has(f.path)), ...files.filter((f) => commit.has(f.path))].map((f) => f.path);
  await fs.mkdir(dir, { recursive: true });
  await recoverFolder(dir);
  const stage = ownTemp('save');
  try {
    for (const f of files) {
      const data = typeof f.data === 'function' ? await f.data() : f.data;
      await writeSynced(join(dir, stage, f.path), data);
    }
    await syncDirectory(join(dir, stage));
  } catch (e) {
    await fs.rm(join(dir, stage), { recursive: true, force: true }).catch(() => undefined);
    throw new Error(`${dir}: save failed, the folder is unchanged: ${(e as Error).message}`, { cause: e });
  }
  const journal: Journal = { stage, files: order, commitFiles: order.filter((p) => commit.has(p)) };
  try {
    await writeFileAtomic(join(dir, COMMIT_JOURNAL), JSON.stringify(journal));
  } catch (e) {
    await fs.rm(join(dir, stage), { recursive: true, force: true }).catch(() => undefined);
    throw new Error(`${dir}: save failed, the folder is unchanged: ${(e as Error).message}`, { cause: e });
  }
  await finishCommit(dir, journal); // past the commit point: an error here is finished by recoverFolder
}

async function writeSynced(path: string, data: Uint8Array | string): Promise<void> {
  const fs = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  await fs.mkdir(dirname(path), { recursive: true });
  const handle = await fs.open(path, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Step 3 and 4 of a save; idempotent (a file already moved is no longer in the stage). */
async function finishCommit(dir: string, journal: Journal): Promise<void> {
  const fs = await import('node:fs/promises');
  const { dirname, join } = await import('node:path');
  const staged = async (p: string) =>
    fs.access(join(dir, journal.stage, p)).then(
      () => true,
      () => false,
    );
  for (const p of journal.commitFiles) if (await staged(p)) await fs.rm(join(dir, p), { force: true });
  await syncDirectory(dir);
  for (const p of journal.files) {
    if (!(await staged(p))) continue;
    await fs.mkdir(dirname(join(dir, p)), { recursive: true });
    await fs.rename(join(dir, journal.stage, p), join(dir, p));
  }
  for (const d of new Set(journal.files.map((p) => dirname(join(dir, p))))) await syncDirectory(d);
  await fs.rm(join(dir, COMMIT_JOURNAL), { force: true });
  await fs.rm(join(dir, journal.stage), { recursive: true, force: true });
}

/**
 * The rule our loaders follow before reading a folder: a save interrupted after its commit point
 * is finished from its journal, and crash leftovers (`.peftjs-tmp-*` files and folders of processes
 * that are gone) are removed. Best effort on a read-only folder. Returns the names removed.
 */
export async function recoverFolder(dir: string): Promise<string[]> {
  const fs = await import('node:fs/promises');
  const { join } = await import('node:path');
  let journal: Journal | undefined;
  try {
    journal = JSON.parse(await fs.readFile(join(dir, COMMIT_JOURNAL), 'utf8')) as Journal;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`${join(dir, COMMIT_JOURNAL)}: ${(e as Error).message}`, { cause: e });
  }
  try {
    if (journal) await finishCommit(dir, journal);
    return await sweepTemps(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return [];
    throw e;
  }
}

/** Whether process `pid` is running (on this machine). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || typeof process === 'undefined') return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `.peftjs-tmp-*` files and folders in `dir` whose writer is gone: named with the pid
 * of a process that is not running, or without a pid (older peftjs). This process's own are kept.
 */
export async function sweepTemps(dir: string): Promise<string[]> {
  const fs = await import('node:fs/promises');
  const { join } = await import('node:path');
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => {
    if (!n.startsWith(TEMP_PREFIX)) return false;
    const pid = /^p(\d+)-/.exec(n.slice(TEMP_PREFIX.length))?.[1];
    return pid === undefined || (Number(pid) !== ownPid() && !processAlive(Number(pid)));
  });
  for (const n of stale) await fs.rm(join(dir, n), { recursive: true, force: true });
  return stale;
}

/** Another live process holds the folder's lock. */
export class FolderLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `${dir} is in use by another peftjs process (pid ${pid}, lock file ${LOCK_FILE}); wait for it to finish or choose another folder`,
    );
  }
}

const held = new Map<string, number>();

/**
 * Takes the exclusive lock of an output folder for the life of a run: `dir/.peftjs-lock` holds the
 * pid. A lock whose process is gone is stale and taken over; a live one is a `FolderLockedError`.
 * Re-entrant within a process. Returns the release function.
 */
export async function lockFolder(dir: string): Promise<() => Promise<void>> {
  const fs = await import('node:fs/promises');
  const { join, resolve } = await import('node:path');
  const key = resolve(dir);
  const path = join(key, LOCK_FILE);
  const release = async () => {
    const n = (held.get(key) ?? 1) - 1;
    if (n > 0) return void held.set(key, n);
    held.delete(key);
    if ((await readLockPid(path)) === ownPid()) await fs.rm(path, { force: true });
  };
  if (held.has(key)) {
    held.set(key, held.get(key)! + 1);
    return release;
  }
  await fs.mkdir(key, { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    // written whole under a temp name, then linked: the lock never exists without its pid
    const draft = join(key, ownTemp('lock'));
    const content = JSON.stringify({ pid: ownPid(), started: new Date().toISOString() });
    try {
      await fs.writeFile(draft, content);
      // a file system without hard links (some network or FUSE ones) gets an exclusive create instead
      await fs
        .link(draft, path)
        .catch((e: NodeJS.ErrnoException) =>
          ['EPERM', 'ENOTSUP', 'ENOSYS'].includes(e.code ?? '') ? fs.writeFile(path, content, { flag: 'wx' }) : Promise.reject(e),
        );
      held.set(key, 1);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new Error(`${path}: cannot take the lock: ${(e as Error).message}`, { cause: e });
    } finally {
      await fs.rm(draft, { force: true });
    }
    const pid = await readLockPid(path);
    if (pid !== undefined && pid !== ownPid() && processAlive(pid)) throw new FolderLockedError(key, pid);
    // stale: move it aside (one of several racing takers wins the rename), remove it, try again
    const aside = join(key, ownTemp('stale-lock'));
    await fs.rename(path, aside).then(
      () => fs.rm(aside, { force: true }),
      () => undefined,
    );
  }
  throw new Error(`${path}: could not take the lock`);
}

async function readLockPid(path: string): Promise<number | undefined> {
  const fs = await import('node:fs/promises');
  try {
    const pid = (JSON.parse(await fs.readFile(path, 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}
