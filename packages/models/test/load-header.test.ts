import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../src/index.js';
import { FIXTURES, fixturesPresent } from './fixtures.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function copyOfBase(): string {
  const d = mkdtempSync(join(tmpdir(), 'peftjs-header-'));
  dirs.push(d);
  cpSync(join(FIXTURES, 'llama/base'), d, { recursive: true });
  return d;
}

describe.skipIf(!fixturesPresent())('the checkpoint header is checked before any tensor data is read', () => {
  it('a config whose vocab_size disagrees with the checkpoint fails from the header, naming both shapes; nothing is left allocated', async () => {
    const d = copyOfBase();
    const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
    const vocab = config.vocab_size as number;
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, vocab_size: 1_000_000 }));
    const before = tf.memory().numTensors;
    await expect(loadModel(d)).rejects.toThrow(
      new RegExp(`wrong shape: .*model\\.embed_tokens\\.weight \\(model \\[1000000,\\d+\\], checkpoint \\[${vocab},\\d+\\]\\)`),
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a truncated file is found from its header (the tensor that does not fit is named)', async () => {
    const d = copyOfBase();
    const bytes = readFileSync(join(d, 'model.safetensors'));
    writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 8));
    await expect(loadModel(d)).rejects.toThrow(/model\.safetensors: tensor ".+": shape .* \(truncated\?\)/);
  });
});
