import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { serializeEntries, type SafetensorsEntry } from '@peftjs/core/io';
import { loadModel } from '@peftjs/models';
import '../src/register.js';
import { QLORA, QLORA_FOLDERS, readEntries } from './helpers.js';

const folder = QLORA_FOLDERS.find((d) => readFileSync(join(QLORA, d, 'config.json'), 'utf8').includes('"bnb_4bit_use_double_quant": true'));
const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of the fixture folder with its tensors edited. */
function edited(edit: (t: Map<string, SafetensorsEntry>) => void, editConfig?: (c: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'qlora-bad-'));
  made.push(dir);
  cpSync(join(QLORA, folder!), dir, { recursive: true });
  const t = readEntries(join(dir, 'model.safetensors'));
  edit(t);
  writeFileSync(join(dir, 'model.safetensors'), serializeEntries([...t.values()], { format: 'pt' }));
  if (editConfig) {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    editConfig(c);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  }
  return dir;
}

const P = 'model.layers.1.mlp.down_proj.';
const KEY = (t: Map<string, SafetensorsEntry>) => [...t.keys()].find((k) => k.startsWith(`${P}weight.quant_state.`))!;

async function expectLoadError(dir: string, pattern: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  await expect(loadModel(dir)).rejects.toThrow(pattern);
  expect(tf.memory().numTensors).toBe(before); // nothing half-loaded stays behind
}

describe.skipIf(!folder)('bad 4-bit folders are errors naming the file and tensor', () => {
  it('an unknown quant type', async () => {
    const dir = edited((t) => {
      const k = KEY(t);
      const e = t.get(k)!;
      t.delete(k);
      t.set(`${P}weight.quant_state.bitsandbytes__int4`, { ...e, name: `${P}weight.quant_state.bitsandbytes__int4` });
    });
    await expectLoadError(
      dir,
      /model\.safetensors: tensor "model\.layers\.1\.mlp\.down_proj\.weight\.quant_state\.bitsandbytes__int4": unknown 4-bit quant type "int4"/,
    );
  });

  it('a missing quant-state tensor', async () => {
    const dir = edited((t) => t.delete(`${P}weight.nested_quant_map`));
    // without nested_quant_map the JSON still says double quant: the build finds it missing
    await expectLoadError(
      dir,
      /model\.safetensors: missing quant-state tensor "model\.layers\.1\.mlp\.down_proj\.weight\.(nested_quant_map|quant_map)"/,
    );
    const dir2 = edited((t) => t.delete(`${P}weight.absmax`));
    await expectLoadError(dir2, /missing quant-state tensor "model\.layers\.1\.mlp\.down_proj\.weight\.absmax"/);
  });

  it('a JSON shape that does not match the module', async () => {
    const dir = edited((t) => {
      const k = KEY(t);
      const json = new TextDecoder().decode(t.get(k)!.bytes).replace(/"shape": \[(\d+), (\d+)\]/, '"shape": [$2, $1]');
      const bytes = new TextEncoder().encode(json);
      t.set(k, { ...t.get(k)!, shape: [bytes.length], bytes });
    });
    await expectLoadError(
      dir,
      /model\.safetensors: tensor "model\.layers\.1\.mlp\.down_proj\.weight\.quant_state\.bitsandbytes__\w+" says shape \[64,32\], model\.layers\.1\.mlp\.down_proj is \[32, 64\]/,
    );
  });

  it('a truncated packed weight, and a truncated file', async () => {
    const dir = edited((t) => {
      const e = t.get(`${P}weight`)!;
      t.set(`${P}weight`, { ...e, shape: [e.shape[0] - 1, 1], bytes: e.bytes.subarray(0, e.bytes.length - 1) });
    });
    await expectLoadError(
      dir,
      /model\.safetensors: packed weight "model\.layers\.1\.mlp\.down_proj\.weight" holds 1023 bytes, .* needs 1024 \(truncated or wrong shape\)/,
    );
    const dir2 = edited(() => undefined);
    const bytes = readFileSync(join(dir2, 'model.safetensors'));
    writeFileSync(join(dir2, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    await expectLoadError(dir2, /model\.safetensors: tensor ".*": .* \(truncated\?\)/);
  });

  it('an unknown bnb_4bit_quant_type or 8-bit config, and a quantize request on a quantized folder', async () => {
    const dir = edited(
      () => undefined,
      (c) => ((c.quantization_config as Record<string, unknown>).bnb_4bit_quant_type = 'int4'),
    );
    await expectLoadError(dir, /config\.json: unknown bnb_4bit_quant_type "int4"/);
    const dir2 = edited(
      () => undefined,
      (c) => Object.assign(c.quantization_config as object, { load_in_8bit: true, load_in_4bit: false }),
    );
    await expectLoadError(dir2, /8-bit \(LLM\.int8\) checkpoints are not supported/);
    await expect(loadModel(join(QLORA, folder!), { quantize: { type: 'nf4' } })).rejects.toThrow(/already quantized/);
    await expect(loadModel(join(QLORA, folder!), { quantize: { type: 'int8' } })).rejects.toThrow(/no weight format serves quantize/);
  });
});
