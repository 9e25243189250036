/**
 * The Trainer's checkpoints kept in IndexedDB, so that a run survives a reload or a lost GPU
 * device. A run is keyed by what decides its course (model, data, method and options, training
 * settings): the same key means the same batches and the same numbers, so its checkpoint may be
 * resumed. Each run keeps its latest checkpoint: the folder's files are written first, then the
 * run's record naming that step is put in a second transaction (the commit point), which also
 * deletes the older step's files. A reload or crash between the two leaves the previous record,
 * which names files that are all there: a half-written checkpoint is never offered.
 */
import { committed, result, withDb } from './idb.js';
import type { StoredRun } from './protocol.js';

const DB = 'peftjs-browser-runs';
const RUNS = 'runs';
const FILES = 'files';
const use = <T>(f: (db: IDBDatabase) => Promise<T>) => withDb(DB, [RUNS, FILES], f);

const fileKey = (key: string, step: number, name: string) => `${key}/${step}/${name}`;
/** Every file key of run `key` (any step). */
const runRange = (key: string) => IDBKeyRange.bound(`${key}/`, `${key}/\uffff`);

/** SHA-256 of `text`, as hex (a run's key is that of the JSON of what decides its course). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Stores checkpoint `run.step` of run `run.key`: its files, then the record that makes it the one offered. */
export function storeCheckpoint(run: StoredRun, files: Map<string, Uint8Array>): Promise<void> {
  return use(async (db) => {
    const write = db.transaction(FILES, 'readwrite');
    for (const [name, bytes] of files) write.objectStore(FILES).put(bytes, fileKey(run.key, run.step, name));
    await committed(write, DB);
    const commit = db.transaction([RUNS, FILES], 'readwrite');
    commit.objectStore(RUNS).put({ ...run, files: [...files.keys()] }, run.key);
    const keep = `${run.key}/${run.step}/`;
    const keys = await result<string[]>(commit.objectStore(FILES).getAllKeys(runRange(run.key)), DB);
    for (const k of keys) if (!k.startsWith(keep)) commit.objectStore(FILES).delete(k);
    await committed(commit, DB);
  });
}

/** The stored runs, newest first. */
export function storedRuns(): Promise<StoredRun[]> {
  return use(async (db) => {
    const runs = await result<StoredRun[]>(db.transaction(RUNS).objectStore(RUNS).getAll(), DB);
    return runs.sort((a, b) => b.savedAt - a.savedAt);
  });
}

/** The record and files of run `key`'s latest checkpoint, or undefined when none is stored. */
export function readCheckpoint(key: string): Promise<{ run: StoredRun; files: Map<string, Uint8Array> } | undefined> {
  return use(async (db) => {
    const tx = db.transaction([RUNS, FILES]);
    const run = await result<(StoredRun & { files: string[] }) | undefined>(tx.objectStore(RUNS).get(key), DB);
    if (!run) return undefined;
    const files = new Map<string, Uint8Array>();
    for (const name of run.files) {
      const bytes = await result<Uint8Array | undefined>(tx.objectStore(FILES).get(fileKey(key, run.step, name)), DB);
      if (!bytes) return undefined;
      files.set(name, bytes);
    }
    return { run, files };
  });
}

/** Removes run `key` and its files. */
export function forgetRun(key: string): Promise<void> {
  return use(async (db) => {
    const tx = db.transaction([RUNS, FILES], 'readwrite');
    tx.objectStore(RUNS).delete(key);
    tx.objectStore(FILES).delete(runRange(key));
    await committed(tx, DB);
  });
}
