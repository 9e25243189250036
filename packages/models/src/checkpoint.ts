// A model folder's checkpoint read lazily: the headers of its safetensors files first (names, dtypes,
// shapes: all a loader needs to check a config against), each tensor's bytes later, by offset.
import { open } from 'node:fs/promises';
import { numel, type CheckpointTensorInfo } from '@peftjs/core';
import { SAFETENSORS_DTYPES, dtypeItemSize, pathExists, readJsonFile, type SafetensorsDtype, type SafetensorsEntry } from '@peftjs/core/io';

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';
const MAX_HEADER_SIZE = 100_000_000;

/** A header entry and where its bytes are. */
export interface CheckpointTensor extends CheckpointTensorInfo {
  /** Absolute byte offset of the data in `file`, and its length. */
  offset: number;
  length: number;
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? `${dir}${name}` : `${dir}/${name}`;
}

/** The safetensors files of a folder, each with the tensor names it should hold (null: all). */
async function weightFiles(dir: string): Promise<Array<{ file: string; names: Set<string> | null }>> {
  const indexPath = joinPath(dir, INDEX);
  if (await pathExists(indexPath)) {
    const index = await readJsonFile<{ weight_map?: Record<string, string> }>(indexPath);
    const map = index?.weight_map;
    if (!map || typeof map !== 'object') throw new Error(`${indexPath}: missing "weight_map"`);
    const byFile = new Map<string, Set<string>>();
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string') throw new Error(`${indexPath}: weight_map["${name}"] must be a file name`);
      if (!byFile.has(file)) byFile.set(file, new Set());
      byFile.get(file)!.add(name);
    }
    return [...byFile.entries()].map(([file, names]) => ({ file, names }));
  }
  if (await pathExists(joinPath(dir, SINGLE))) return [{ file: SINGLE, names: null }];
  const hint = (await pathExists(joinPath(dir, 'pytorch_model.bin'))) ? ' (pytorch_model.bin is not read: convert it to safetensors)' : '';
  throw new Error(`${dir}: no ${SINGLE} or ${INDEX}${hint}`);
}

/** Reads only the header of one safetensors file and checks every entry against the file's size. */
async function readHeader(dir: string, file: string): Promise<CheckpointTensor[]> {
  const path = joinPath(dir, file);
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const fail = (problem: string): never => {
      throw new Error(`${path}: ${problem}`);
    };
    if (size < 8) fail(`file is ${size} bytes, shorter than the 8-byte header length`);
    const lenBuf = new Uint8Array(8);
    await fh.read(lenBuf, 0, 8, 0);
    const n = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
    if (n > MAX_HEADER_SIZE || n > size - 8) fail(`header length ${n} exceeds the file size ${size} or the safetensors limit`);
    const text = new Uint8Array(n);
    await fh.read(text, 0, n, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(text)) as Record<string, unknown>;
    } catch (e) {
      return fail(`header is not valid JSON: ${(e as Error).message}`);
    }
    const dataStart = 8 + n;
    const out: CheckpointTensor[] = [];
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const { dtype, shape, data_offsets: off } = (info ?? {}) as { dtype?: string; shape?: number[]; data_offsets?: number[] };
      if (!SAFETENSORS_DTYPES.includes(dtype as SafetensorsDtype)) fail(`tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
      if (!Array.isArray(shape) || !Array.isArray(off) || off.length !== 2) fail(`tensor "${name}": needs shape and data_offsets`);
      const length = numel(shape!) * dtypeItemSize(dtype as SafetensorsDtype);
      if (off![1] - off![0] !== length || dataStart + off![1] > size) {
        fail(
          `tensor "${name}": shape [${shape}] of ${dtype} needs ${length} bytes at data_offsets [${off}], the file has ${size - dataStart} data bytes (truncated?)`,
        );
      }
      out.push({ name, dtype: dtype as SafetensorsDtype, shape: shape!, file, offset: dataStart + off![0], length });
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Every tensor of a folder's checkpoint, by name, from the headers alone; files in read order. */
export async function readCheckpointHeader(dir: string): Promise<{ files: string[]; tensors: Map<string, CheckpointTensor> }> {
  const files: string[] = [];
  const tensors = new Map<string, CheckpointTensor>();
  for (const { file, names } of await weightFiles(dir)) {
    files.push(file);
    for (const t of await readHeader(dir, file)) if (!names || names.has(t.name)) tensors.set(t.name, t);
  }
  return { files, tensors };
}

/** Reads tensors' bytes by offset, one file handle per file; each entry owns its own aligned buffer. */
export async function readEntries(dir: string, tensors: CheckpointTensor[]): Promise<Map<string, SafetensorsEntry>> {
  const out = new Map<string, SafetensorsEntry>();
  const byFile = new Map<string, CheckpointTensor[]>();
  for (const t of tensors) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t]);
  for (const [file, list] of byFile) {
    const fh = await open(joinPath(dir, file), 'r');
    try {
      for (const t of list) {
        const bytes = new Uint8Array(t.length);
        const { bytesRead } = await fh.read(bytes, 0, t.length, t.offset);
        if (bytesRead !== t.length)
          throw new Error(`${joinPath(dir, file)}: tensor "${t.name}" is truncated (${bytesRead} of ${t.length} bytes)`);
        out.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, bytes });
      }
    } finally {
      await fh.close();
    }
  }
  return out;
}
