// Files on disk. Node modules load lazily inside each function, so core stays importable
// in a browser; `formatPythonJson` is pure.
import { compareCodePoints } from './safetensors.js';
import type { SafetensorsFile } from './safetensors.js';
import { parseSafetensors } from './safetensors-read.js';
import { serializeSafetensors } from './safetensors-write.js';
import type { SerializeOptions, TensorSource } from './safetensors-write.js';
/** This process's id; 0 where there are no processes (a browser page or worker, whose files are its own). */
export function ownPid(): number {
  return typeof process === 'undefined' ? 0 : process.pid;
}

/** Names of files and folders being written; `p<pid>-` follows, so a sweep knows whose they are. */
export const TEMP_PREFIX = '.peftjs-tmp-';

/**
 * Writes data to `path` atomically: a temp file in the same directory (name starting with
 * `.peftjs-tmp-p<pid>-`), fsync, then rename over the target. On any error the temp file is
 * removed and the old file, if any, is untouched. Creates parent directories.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const fs = await import('node:fs/promises');
  const { basename, dirname, join } = await import('node:path');
  const dir = dirname(path);
  const random = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const temp = join(dir, `${TEMP_PREFIX}p${ownPid()}-${basename(path).slice(0, 100)}-${random}`);
  let handle: Awaited<ReturnType<typeof fs.open>> | undefined;
  try {
    await fs.mkdir(dir, { recursive: true });
    const previousMode = await fs.stat(path).then(
      (s) => (s.isFile() ? s.mode & 0o777 : undefined),
      () => undefined,
    );
    handle = await fs.open(temp, 'wx');
    if (previousMode !== undefined) await handle.chmod(previousMode); // keep the replaced file's permissions
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, path);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw new Error(`${path}: write failed: ${(e as Error).message}`, { cause: e });
  }
  await syncDirectory(dir);
}

/** Makes the rename itself durable where the platform allows (not on Windows). */
export async function syncDirectory(dir: string): Promise<void> {
  const fs = await import('node:fs/promises');
  try {
    const handle = await fs.open(dir, 'r');
    await handle.sync().finally(() => handle.close());
  } catch {
    // best effort: the data itself was synced before the rename
  }
}

/** The file's bytes; the error names the path when it is missing. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const fs = await import('node:fs/promises');
  try {
    const buffer = await fs.readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (e) {
    throw fileError(path, e);
  }
}

/** Parses a JSON file; the error names the file and carries the parser's message. */
export async function readJsonFile<T = unknown>(path: string): Promise<T> {
  const fs = await import('node:fs/promises');
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw fileError(path, e);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`, { cause: e });
  }
}

function fileError(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const problem = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : (e as Error).message;
  return new Error(`${path}: ${problem}`, { cause: e });
}

export interface PythonJsonOptions {
  /**
   * Keys whose numbers Python holds as floats, written `0.0` rather than `0` (a parsed
   * `0.0` is the number 0 in JavaScript; only the schema knows it was a float). Numbers
   * that are not integers are always written as floats.
   */
  floatKeys?: Iterable<string>;
  /** End with "\n": transformers' config.json does, PEFT's adapter_config.json does not. Default false. */
  trailingNewline?: boolean;
}

/**
 * JSON as Python's `json.dumps(value, indent=2, sort_keys=True)` writes it (how PEFT writes
 * adapter_config.json): keys sorted by code point at every level, 2-space indent, `,` at
 * line ends and `": "` after keys, `{}` and `[]` when empty, anything outside printable
 * ASCII escaped as `\uXXXX`, floats in Python's `repr` (`1e-05`, `10000.0`). Like
 * JSON.stringify, undefined object members are left out; NaN and Infinity, which JSON
 * cannot hold, are an error.
 */
export function formatPythonJson(value: unknown, opts: PythonJsonOptions = {}): string {
  const floatKeys = new Set(opts.floatKeys ?? []);
  const write = (v: unknown, indent: string, isFloat: boolean, at: string): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'string') return pythonString(v);
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new Error(`JSON value at ${at} is ${v}, which JSON cannot hold`);
      return isFloat || !Number.isInteger(v) ? pythonFloat(v) : BigInt(v).toString();
    }
    const inner = `${indent}  `;
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      const items = v.map((item, i) => `${inner}${write(item, inner, isFloat, `${at}[${i}]`)}`);
      return `[\n${items.join(',\n')}\n${indent}]`;
    }
    if (isPlainRecord(v)) {
      const keys = Object.keys(v)
        .filter((k) => v[k] !== undefined)
        .sort(compareCodePoints);
      if (keys.length === 0) return '{}';
      const members = keys.map((k) => `${inner}${pythonString(k)}: ${write(v[k], inner, floatKeys.has(k), `${at}.${k}`)}`);
      return `{\n${members.join(',\n')}\n${indent}}`;
    }
    throw new Error(`JSON value at ${at} is a ${typeof v === 'object' ? v.constructor.name : typeof v}, not plain data`);
  };
  return write(value, '', false, '$') + (opts.trailingNewline ? '\n' : '');
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A string as Python's json writes it with ensure_ascii: only printable ASCII stays as is. */
function pythonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) out += s[i];
    else out += PYTHON_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

const PYTHON_ESCAPES: Record<number, string> = {
  0x22: '\\"',
  0x5c: '\\\\',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x08: '\\b',
  0x0c: '\\f',
};

/** Python's `repr(float)`: shortest digits, positional for 1e-4 <= |x| < 1e16, else `d.ddde±XX`. */
function pythonFloat(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = x.toExponential().split('e'); // shortest round-trip digits
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const point = exponent + 1; // digits before the decimal point
  let text: string;
  if (point <= 0) text = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) text = `${digits}${'0'.repeat(point - digits.length)}.0`;
  else text = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${text}` : text;
}

/** Writes `value` atomically in Python's `json.dumps(indent=2, sort_keys=True)` format (see formatPythonJson). */
export async function writeJsonAtomic(path: string, value: unknown, opts?: PythonJsonOptions): Promise<void> {
  let text: string;
  try {
    text = formatPythonJson(value, opts);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
  await writeFileAtomic(path, text);
}

/** Reads and validates a safetensors file; errors name the file's basename. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const { basename } = await import('node:path');
  return parseSafetensors(await readFileBytes(path), basename(path));
}

/** Serializes tensors (see serializeSafetensors) and writes them atomically. */
export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, TensorSource> | Map<string, TensorSource>,
  opts?: SerializeOptions,
): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = serializeSafetensors(tensors, opts);
  } catch (e) {
    const { basename } = await import('node:path');
    throw new Error(`${basename(path)}: ${(e as Error).message}`, { cause: e });
  }
  await writeFileAtomic(path, bytes);
}

/** Whether something exists at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  const fs = await import('node:fs/promises');
  try {
    await fs.access(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw fileError(path, e);
  }
}
