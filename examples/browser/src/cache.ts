/**
 * Model folders the user picked, kept in IndexedDB so that a reload does not read them from
 * disk again: one record per folder (its file names) and one per file (its bytes).
 */
const DB = 'peftjs-browser-models';
const FOLDERS = 'folders';
const FILES = 'files';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(FOLDERS);
      req.result.createObjectStore(FILES);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Error(`IndexedDB ${DB}: ${req.error?.message ?? 'cannot open'}`));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(new Error(`IndexedDB ${DB}: ${tx.error?.message ?? 'write failed'}`));
    tx.onabort = () => reject(new Error(`IndexedDB ${DB}: ${tx.error?.message ?? 'aborted (quota?)'}`));
  });
}

function get<T>(store: IDBObjectStore, key: string): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const req = store.get(key);
    req.onsuccess = () => resolve(req.result as T | undefined);
    req.onerror = () => reject(new Error(`IndexedDB ${DB}: ${req.error?.message ?? 'read failed'}`));
  });
}

/** Names of the cached folders. */
export async function cachedFolders(): Promise<string[]> {
  const db = await open();
  try {
    const req = db.transaction(FOLDERS).objectStore(FOLDERS).getAllKeys();
    return await new Promise((resolve, reject) => {
      req.onsuccess = () => resolve((req.result as string[]).sort());
      req.onerror = () => reject(new Error(`IndexedDB ${DB}: ${req.error?.message}`));
    });
  } finally {
    db.close();
  }
}

/** Stores a folder's files (all of them, or none if the browser refuses the space). */
export async function cacheFolder(name: string, files: Map<string, Uint8Array>): Promise<void> {
  const db = await open();
  try {
    const tx = db.transaction([FOLDERS, FILES], 'readwrite');
    for (const [file, bytes] of files) tx.objectStore(FILES).put(bytes, `${name}/${file}`);
    tx.objectStore(FOLDERS).put([...files.keys()], name);
    await done(tx);
  } finally {
    db.close();
  }
}

/** A cached folder's files, or undefined when it is not (or no longer) cached. */
export async function readCachedFolder(name: string): Promise<Map<string, Uint8Array> | undefined> {
  const db = await open();
  try {
    const tx = db.transaction([FOLDERS, FILES]);
    const names = await get<string[]>(tx.objectStore(FOLDERS), name);
    if (!names) return undefined;
    const out = new Map<string, Uint8Array>();
    for (const file of names) {
      const bytes = await get<Uint8Array>(tx.objectStore(FILES), `${name}/${file}`);
      if (!bytes) return undefined;
      out.set(file, bytes);
    }
    return out;
  } finally {
    db.close();
  }
}

export async function forgetFolder(name: string): Promise<void> {
  const db = await open();
  try {
    const tx = db.transaction([FOLDERS, FILES], 'readwrite');
    const names = (await get<string[]>(tx.objectStore(FOLDERS), name)) ?? [];
    for (const file of names) tx.objectStore(FILES).delete(`${name}/${file}`);
    tx.objectStore(FOLDERS).delete(name);
    await done(tx);
  } finally {
    db.close();
  }
}
