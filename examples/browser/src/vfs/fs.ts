/**
 * The subset of `node:fs/promises` that peftjs's packages use, over the page's in-memory files
 * (`store.ts`). The browser build aliases `node:fs/promises` to this module. Errors carry Node's
 * `code` (ENOENT, EISDIR) so the packages' messages read as they do in Node.
 *
 * Every call first yields to the event loop, as real file I/O does: the Trainer awaits its
 * metrics append after each step, so the worker handles messages (Stop) between steps.
 */
import { deleteFile, getFile, isDirectory, listFiles, normalize, putFile, removeTree } from './store.js';

function fsError(code: string, syscall: string, path: string): Error {
  const text =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EISDIR'
        ? 'illegal operation on a directory'
        : code === 'EEXIST'
          ? 'file already exists'
          : 'operation failed';
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, syscall, path });
}

let channel: MessageChannel | undefined;
const waiting: Array<() => void> = [];

/** Resolves on the next macrotask (a MessageChannel message: no 4 ms timer clamp). */
export function nextTask(): Promise<void> {
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel!.port2.postMessage(0);
  });
}

function read(path: string, syscall: string): Uint8Array {
  const bytes = getFile(path);
  if (bytes) return bytes;
  throw fsError(isDirectory(path) ? 'EISDIR' : 'ENOENT', syscall, path);
}

export async function readFile(path: string, encoding?: string | { encoding?: string }): Promise<Uint8Array | string> {
  await nextTask();
  const bytes = read(path, 'open');
  const enc = typeof encoding === 'string' ? encoding : encoding?.encoding;
  return enc ? new TextDecoder().decode(bytes) : bytes.slice();
}

export async function writeFile(path: string, data: Uint8Array | string): Promise<void> {
  await nextTask();
  putFile(path, typeof data === 'string' ? data : data.slice());
}

let appendGate: (() => void | Promise<void>) | undefined;

/**
 * Runs (and awaits) `gate` in every append after the yield, before writing: a throw there ends the
 * caller's await. The Trainer awaits the metrics line of each of its events, so the worker stores
 * a checkpoint it just wrote there, and Stop leaves `train()` there right after the step in
 * progress (its state is complete at that point).
 */
export function setAppendGate(gate: (() => void | Promise<void>) | undefined): void {
  appendGate = gate;
}

export async function appendFile(path: string, data: string | Uint8Array): Promise<void> {
  await nextTask();
  await appendGate?.();
  const add = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const old = getFile(path) ?? new Uint8Array(0);
  const out = new Uint8Array(old.length + add.length);
  out.set(old);
  out.set(add, old.length);
  putFile(path, out);
}

export async function access(path: string): Promise<void> {
  await nextTask();
  if (!getFile(path) && !isDirectory(path)) throw fsError('ENOENT', 'access', path);
}

export async function stat(path: string): Promise<{ isFile(): boolean; isDirectory(): boolean; size: number; mode: number }> {
  await nextTask();
  const bytes = getFile(path);
  if (!bytes && !isDirectory(path)) throw fsError('ENOENT', 'stat', path);
  return { isFile: () => !!bytes, isDirectory: () => !bytes, size: bytes?.length ?? 0, mode: 0o644 };
}

/** Directories exist implicitly (a file under them); nothing to create. */
export async function mkdir(): Promise<undefined> {
  await nextTask();
  return undefined;
}

export async function rename(from: string, to: string): Promise<void> {
  await nextTask();
  const bytes = read(from, 'rename');
  putFile(to, bytes);
  deleteFile(from);
}

export async function rm(path: string, opts: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
  await nextTask();
  if (deleteFile(path)) return;
  if (isDirectory(path)) {
    if (!opts.recursive) throw fsError('EISDIR', 'rm', path);
    removeTree(path);
  } else if (!opts.force) throw fsError('ENOENT', 'rm', path);
}

/** A hard link, as the output-folder lock takes it: `to` must not exist yet (EEXIST); the page copies the bytes. */
export async function link(from: string, to: string): Promise<void> {
  await nextTask();
  const bytes = read(from, 'link');
  if (getFile(to) || isDirectory(to)) throw fsError('EEXIST', 'link', to);
  putFile(to, bytes.slice());
}

/** The names directly in `dir` (files and the folders that hold files). */
export async function readdir(dir: string): Promise<string[]> {
  await nextTask();
  if (!isDirectory(dir)) throw fsError(getFile(dir) ? 'ENOTDIR' : 'ENOENT', 'scandir', dir);
  return [...new Set(listFiles(dir).map((p) => p.split('/')[0]!))];
}

/** A handle that buffers its writes and stores them on close (`writeFileAtomic` then renames). */
export async function open(path: string, flags = 'r'): Promise<FileHandle> {
  await nextTask();
  if (flags === 'r') {
    if (!getFile(path) && !isDirectory(path)) throw fsError('ENOENT', 'open', path);
    return new FileHandle(normalize(path), false);
  }
  return new FileHandle(normalize(path), true);
}

class FileHandle {
  private data: Uint8Array | null = null;

  constructor(
    private readonly path: string,
    private readonly writable: boolean,
  ) {}

  /** Reads by offset, as the header-first model loader does. */
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    const bytes = read(this.path, 'read');
    const chunk = bytes.subarray(position, Math.min(bytes.length, position + length));
    buffer.set(chunk, offset);
    return { bytesRead: chunk.length, buffer };
  }

  async stat(): Promise<{ size: number; isFile(): boolean; isDirectory(): boolean }> {
    const bytes = read(this.path, 'fstat');
    return { size: bytes.length, isFile: () => true, isDirectory: () => false };
  }

  async writeFile(data: Uint8Array | string): Promise<void> {
    this.data = typeof data === 'string' ? new TextEncoder().encode(data) : data.slice();
  }

  async chmod(): Promise<void> {}

  async sync(): Promise<void> {}

  async close(): Promise<void> {
    if (this.writable) putFile(this.path, this.data ?? new Uint8Array(0));
  }
}

export default { readFile, writeFile, appendFile, access, stat, mkdir, rename, rm, readdir, link, open };
