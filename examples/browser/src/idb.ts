/** The few IndexedDB steps the page's stores share (model cache, stored checkpoints), as promises. */

/** Opens (or creates, version 1) database `name` with the object stores `stores`. */
export function openDb(name: string, stores: readonly string[]): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      for (const s of stores) req.result.createObjectStore(s);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Error(`IndexedDB ${name}: ${req.error?.message ?? 'cannot open'}`));
  });
}

/** Resolves when `tx` has committed (all its writes are stored, or none). */
export function committed(tx: IDBTransaction, db: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(new Error(`IndexedDB ${db}: ${tx.error?.message ?? 'write failed'}`));
    tx.onabort = () => reject(new Error(`IndexedDB ${db}: ${tx.error?.message ?? 'aborted (quota?)'}`));
  });
}

/** The result of one request. */
export function result<T>(req: IDBRequest, db: string): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result as T);
    req.onerror = () => reject(new Error(`IndexedDB ${db}: ${req.error?.message ?? 'read failed'}`));
  });
}

/** Runs `f` on the open database `name` and closes it after. */
export async function withDb<T>(name: string, stores: readonly string[], f: (db: IDBDatabase) => Promise<T>): Promise<T> {
  const db = await openDb(name, stores);
  try {
    return await f(db);
  } finally {
    db.close();
  }
}
