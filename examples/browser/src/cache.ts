/**
 * Model folders the user picked, kept in IndexedDB so that a reload does not read them from
 * disk again: one record per folder (its file names) and one per file (its bytes).
 */
import { committed, result, withDb } from './idb.js';

const DB = 'peftjs-browser-models';
const FOLDERS = 'folders';
const FILES = 'files';
const use = <T>(f: (db: IDBDatabase) => Promise<T>) => withDb(DB, [FOLDERS, FILES], f);

/** Names of the cached folders. */
export function cachedFolders(): Promise<string[]> {
  return use(async (db) => (await result<string[]>(db.transaction(FOLDERS).objectStore(FOLDERS).getAllKeys(), DB)).sort());
}

/** Stores a folder's files (all of them, or none if the browser refuses the space). */
export function cacheFolder(name: string, files: Map<string, Uint8Array>): Promise<void> {
  return use(async (db) => {
    const tx = db.transaction([FOLDERS, FILES], 'readwrite');
    for (const [file, bytes] of files) tx.objectStore(FILES).put(bytes, `${name}/${file}`);
    tx.objectStore(FOLDERS).put([...files.keys()], name);
    await committed(tx, DB);
  });
}

/** A cached folder's files, or undefined when it is not (or no longer) cached. */
export function readCachedFolder(name: string): Promise<Map<string, Uint8Array> | undefined> {
  return use(async (db) => {
    const tx = db.transaction([FOLDERS, FILES]);
    const names = await result<string[] | undefined>(tx.objectStore(FOLDERS).get(name), DB);
    if (!names) return undefined;
    const out = new Map<string, Uint8Array>();
    for (const file of names) {
      const bytes = await result<Uint8Array | undefined>(tx.objectStore(FILES).get(`${name}/${file}`), DB);
      if (!bytes) return undefined;
      out.set(file, bytes);
    }
    return out;
  });
}

export function forgetFolder(name: string): Promise<void> {
  return use(async (db) => {
    const tx = db.transaction([FOLDERS, FILES], 'readwrite');
    const names = (await result<string[] | undefined>(tx.objectStore(FOLDERS).get(name), DB)) ?? [];
    for (const file of names) tx.objectStore(FILES).delete(`${name}/${file}`);
    tx.objectStore(FOLDERS).delete(name);
    await committed(tx, DB);
  });
}
