import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  formatPythonJson,
  pathExists,
  readFileBytes,
  readJsonFile,
  readSafetensorsFile,
  writeFileAtomic,
  writeJsonAtomic,
  writeSafetensorsFile,
} from '../src/io/fs.js';
import { decodeEntry } from '../src/io/index.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = process.env.PEFTJS_FIXTURES ?? path.resolve(REPO_ROOT, '../shared/fixtures');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'peftjs-fs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tempFilesIn(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((f) => f.startsWith('.peftjs-tmp-'));
}

describe('writeFileAtomic', () => {
  it('creates missing parent directories and writes the bytes', async () => {
    const target = path.join(dir, 'a', 'b', 'file.bin');
    await writeFileAtomic(target, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(target))]).toEqual([1, 2, 3]);
  });

  it('replaces the old content and leaves no .peftjs-tmp- file behind', async () => {
    const target = path.join(dir, 'config.json');
    await writeFile(target, 'old');
    await writeFileAtomic(target, 'new content');
    expect(await readFile(target, 'utf8')).toBe('new content');
    expect(await tempFilesIn(dir)).toEqual([]);
  });

  it.skipIf(process.platform === 'win32')('keeps the permissions of the file it replaces', async () => {
    const target = path.join(dir, 'script.sh');
    await writeFile(target, 'old');
    await chmod(target, 0o640);
    await writeFileAtomic(target, 'new');
    expect((await stat(target)).mode & 0o777).toBe(0o640);
  });

  it('fails naming the path when the target is a directory, leaving it untouched and no temp file', async () => {
    const target = path.join(dir, 'adapter_model.safetensors');
    await mkdir(target);
    await writeFile(path.join(target, 'inside.txt'), 'keep me');
    await expect(writeFileAtomic(target, 'data')).rejects.toThrow(`${target}: write failed:`);
    expect(await readFile(path.join(target, 'inside.txt'), 'utf8')).toBe('keep me');
    expect(await readdir(target)).toEqual(['inside.txt']);
    expect(await tempFilesIn(dir)).toEqual([]);
  });

  it('fails naming the path when a parent is a file, leaving that file untouched', async () => {
    const parent = path.join(dir, 'not-a-dir');
    await writeFile(parent, 'old');
    const target = path.join(parent, 'file.json');
    await expect(writeFileAtomic(target, 'data')).rejects.toThrow(`${target}: write failed:`);
    expect(await readFile(parent, 'utf8')).toBe('old');
    expect(await tempFilesIn(dir)).toEqual([]);
  });
});

describe('reading files', () => {
  it('readFileBytes gives the file bytes as a Uint8Array', async () => {
    const target = path.join(dir, 'x.bin');
    await writeFile(target, Buffer.from([9, 8, 7]));
    const bytes = await readFileBytes(target);
    expect(bytes.constructor).toBe(Uint8Array);
    expect([...bytes]).toEqual([9, 8, 7]);
  });

  it('readFileBytes names a missing path', async () => {
    const missing = path.join(dir, 'missing.safetensors');
    await expect(readFileBytes(missing)).rejects.toThrow(`${missing}: no such file`);
  });

  it('readJsonFile names the file and gives the parser message on bad JSON', async () => {
    const target = path.join(dir, 'adapter_config.json');
    await writeFile(target, '{"r": 8,}');
    await expect(readJsonFile(target)).rejects.toThrow(new RegExp(`^${target.replace(/[\\.]/g, '\\$&')}: invalid JSON: .*JSON`));
  });

  it('readJsonFile parses a valid file', async () => {
    const target = path.join(dir, 'c.json');
    await writeFile(target, '{"r": 8, "target_modules": ["q_proj"]}');
    expect(await readJsonFile(target)).toEqual({ r: 8, target_modules: ['q_proj'] });
  });

  it('pathExists tells a present path from a missing one', async () => {
    await writeFile(path.join(dir, 'here'), '');
    expect(await pathExists(path.join(dir, 'here'))).toBe(true);
    expect(await pathExists(dir)).toBe(true);
    expect(await pathExists(path.join(dir, 'gone'))).toBe(false);
    expect(await pathExists(path.join(dir, 'here', 'below'))).toBe(false);
  });
});

describe('safetensors files', () => {
  it('writeSafetensorsFile then readSafetensorsFile gives back the tensors', async () => {
    const target = path.join(dir, 'out', 'adapter_model.safetensors');
    const weight = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    await writeSafetensorsFile(target, { 'lora_A.weight': weight }, { metadata: { format: 'pt' } });
    const file = await readSafetensorsFile(target);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(Array.from(decodeEntry(file.tensors.get('lora_A.weight')!))).toEqual([1, 2, 3, 4]);
    expect(await tempFilesIn(path.dirname(target))).toEqual([]);
    weight.dispose();
  });

  it('readSafetensorsFile names the file by its basename in parse errors', async () => {
    const target = path.join(dir, 'adapter_model.safetensors');
    await writeFile(target, Buffer.from([1, 2, 3]));
    await expect(readSafetensorsFile(target)).rejects.toThrow(
      'adapter_model.safetensors: file is 3 bytes, shorter than the 8-byte header length',
    );
  });
});

/** Keys whose values the file writes as Python floats (`0.0`, `1e-06`): what a config schema would list. */
function floatKeysIn(text: string): string[] {
  return [...text.matchAll(/"([^"\\]+)": -?\d+(\.\d+)?(e[-+]\d+)?[,\n]/g)].filter((m) => m[2] || m[3]).map((m) => m[1]);
}

function walk(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(path.join(folder, d.name)) : [path.join(folder, d.name)],
  );
}

/** JSON files written by PEFT (adapter_config.json) and transformers (config.json, generation_config.json). */
const pythonJsonFiles = existsSync(FIXTURES)
  ? walk(FIXTURES)
      .filter((f) => /(^|[/\\])(adapter_config|config|generation_config)\.json$/.test(f))
      .map((f) => path.relative(FIXTURES, f))
      .sort()
  : [];

describe('writeJsonAtomic', () => {
  it('writes the parsed llama/lora adapter_config.json byte-identical to the file PEFT wrote', async () => {
    const original = path.join(FIXTURES, 'llama/lora/adapter_config.json');
    const target = path.join(dir, 'adapter_config.json');
    await writeJsonAtomic(target, await readJsonFile(original), { floatKeys: ['lora_dropout'] });
    expect(await readFile(target, 'utf8')).toBe(await readFile(original, 'utf8'));
  });

  it('finds the PEFT and transformers JSON fixtures to compare against', () => {
    expect(pythonJsonFiles.length).toBeGreaterThan(30);
  });

  it.each(pythonJsonFiles)('formats %s byte-identically, given its float keys', (file) => {
    const text = readFileSync(path.join(FIXTURES, file), 'utf8');
    const formatted = formatPythonJson(JSON.parse(text), { floatKeys: floatKeysIn(text), trailingNewline: text.endsWith('\n') });
    expect(formatted).toBe(text);
  });

  it('formats as Python json.dumps(indent=2, sort_keys=True): sorted keys, empty containers, ASCII escapes', () => {
    const value = { b: [1, { x: 'é\u007f\u{1F600}"\\\n' }], a: [], c: {}, d: [[]], e: null, f: true, skipped: undefined };
    expect(formatPythonJson(value, { floatKeys: ['b'] })).toBe(
      [
        '{',
        '  "a": [],',
        '  "b": [',
        '    1.0,',
        '    {',
        '      "x": "\\u00e9\\u007f\\ud83d\\ude00\\"\\\\\\n"',
        '    }',
        '  ],',
        '  "c": {},',
        '  "d": [',
        '    []',
        '  ],',
        '  "e": null,',
        '  "f": true',
        '}',
      ].join('\n'),
    );
  });

  it('writes floats as Python repr does', () => {
    const floats = [1e-5, 1e-4, 1e16, 1e15, 1.2345678901234568e17, 0.1, -0, 1.5e300, 5e-324, 10000, 0.85, -2.5e-7];
    expect(formatPythonJson({ v: floats }, { floatKeys: ['v'] })).toBe(
      `{\n  "v": [\n${[
        '1e-05',
        '0.0001',
        '1e+16',
        '1000000000000000.0',
        '1.2345678901234568e+17',
        '0.1',
        '-0.0',
        '1.5e+300',
        '5e-324',
        '10000.0',
        '0.85',
        '-2.5e-07',
      ]
        .map((s) => `    ${s}`)
        .join(',\n')}\n  ]\n}`,
    );
  });

  it('writes integers outside float keys as Python ints', () => {
    expect(formatPythonJson({ r: 8, big: 1e21, neg: -3 })).toBe('{\n  "big": 1000000000000000000000,\n  "neg": -3,\n  "r": 8\n}');
  });

  it('refuses NaN, naming the path and the key', async () => {
    const target = path.join(dir, 'bad.json');
    await expect(writeJsonAtomic(target, { a: { lr: NaN } })).rejects.toThrow(
      `${target}: JSON value at $.a.lr is NaN, which JSON cannot hold`,
    );
    expect(await pathExists(target)).toBe(false);
  });
});
