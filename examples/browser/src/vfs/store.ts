/**
 * The page's file system: an in-memory map from absolute path to bytes. The real peftjs loaders
 * and savers (models, tokenizer, adapters, checkpoints, metrics) read and write files by path with
 * `node:fs/promises`; in the browser build that module is this folder's `fs.ts`, so they run
 * unchanged on files the user picked, files fetched from the page's own assets, and files the
 * page will offer as downloads.
 */
const files = new Map<string, Uint8Array>();

/** `/a//b/../c/` → `/a/c` (paths are always absolute here). */
export function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

export function putFile(path: string, bytes: Uint8Array | string): void {
  files.set(normalize(path), typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes);
}

export function getFile(path: string): Uint8Array | undefined {
  return files.get(normalize(path));
}

export function deleteFile(path: string): boolean {
  return files.delete(normalize(path));
}

/** Whether `path` is a directory: some file lies under it. */
export function isDirectory(path: string): boolean {
  const prefix = `${normalize(path)}/`.replace(/^\/\/$/, '/');
  for (const k of files.keys()) if (k.startsWith(prefix)) return true;
  return false;
}

/** Files directly or indirectly under `dir`, as paths relative to it. */
export function listFiles(dir: string): string[] {
  const prefix = `${normalize(dir)}/`;
  return [...files.keys()]
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length))
    .sort();
}

/** Removes every file under `dir`. */
export function removeTree(dir: string): void {
  const prefix = `${normalize(dir)}/`;
  for (const k of [...files.keys()]) if (k.startsWith(prefix) || k === normalize(dir)) files.delete(k);
}
