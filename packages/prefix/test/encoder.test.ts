import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@peftjs/core';
import { maxAbsDiff } from '@peftjs/testing';
import { FIXTURES, copyFixtureWithStateFile, fixtureLogitsDiff, hasFixtures, loadFixtureCase, readTensors } from '@peftjs/testing/fixtures';
import { PrefixEncoder, layerKeyValue, prefixEncoderOf, prefixProjection, prefixTuning } from '../src/index.js';
import { ENCODER_FILE } from '@peftjs/core';

const tmp = mkdtempSync(join(tmpdir(), 'peftjs-prefix-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the prefix layout', () => {
  it("splits PEFT's flat prefix [n, L·2·kvH·hd] into each layer's key and value [B, kvH, n, hd]", () => {
    // n 2, L 2, kvH 2, hd 1: row t holds, per layer l, key heads then value heads
    const flat = tf.tensor2d([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [10, 11, 12, 13, 14, 15, 16, 17],
    ]);
    const encoder = new PrefixEncoder(
      { numVirtualTokens: 2, tokenDim: 2, numLayers: 2, kvHeads: 2, headDim: 1, encoderHiddenSize: 2 },
      false,
      {
        zero: false,
        rng: new Rng(0),
        tableOnly: false,
      },
    );
    encoder.embedding.assign(flat);
    const layer1 = tf.tidy(() => encoder.layerRows(1));
    const { key, value } = layerKeyValue(layer1, 3, 2, 1);
    expect(key.shape).toEqual([3, 2, 2, 1]);
    // PEFT: view [B, n, L·2, H, hd].permute(2, 0, 3, 1, 4) → [L·2, B, H, n, hd]; layer 1 key = index 2
    expect((key.arraySync() as number[][][][])[2]).toEqual([
      [[4], [14]],
      [[5], [15]],
    ]);
    expect((value.arraySync() as number[][][][])[0]).toEqual([
      [[6], [16]],
      [[7], [17]],
    ]);
    tf.dispose([flat, layer1, key, value]);
    encoder.dispose();
  });

  it("computes a layer's projected rows as the same slice of the whole projection", () => {
    const encoder = new PrefixEncoder(
      { numVirtualTokens: 3, tokenDim: 4, numLayers: 3, kvHeads: 2, headDim: 2, encoderHiddenSize: 5 },
      true,
      {
        zero: false,
        rng: new Rng(2),
        tableOnly: false,
      },
    );
    const full = tf.tidy(() => encoder.output());
    for (let l = 0; l < 3; l++) {
      const rows = tf.tidy(() => encoder.layerRows(l));
      const want = tf.slice(full, [0, 8 * l], [3, 8]);
      expect(maxAbsDiff(rows, want)).toBeLessThan(1e-6);
      tf.dispose([rows, want]);
    }
    full.dispose();
    encoder.dispose();
  });
});

const projCases = ['llama_mha/prefix_tuning_proj', 'gpt2/prefix_tuning_proj'];

describe.skipIf(!hasFixtures)("the projection against PEFT's PrefixEncoder", () => {
  for (const c of projCases) {
    it(`${c}: Embedding → Linear → Tanh → Linear on PEFT's trained weights gives PEFT's prompt_embeddings within 1e-5`, () => {
      const state = readTensors(join(FIXTURES, c, 'trainable_state.safetensors'));
      const saved = readTensors(join(FIXTURES, c, 'adapter_model.safetensors'));
      const w = (k: string) => state.get(`prompt_encoder.default.${k}`)!;
      const out = prefixProjection(
        w('embedding.weight'),
        w('transform.0.weight'),
        w('transform.0.bias'),
        w('transform.2.weight'),
        w('transform.2.bias'),
      );
      expect(maxAbsDiff(out, saved.get('prompt_embeddings')!)).toBeLessThan(1e-5);
      tf.dispose([out, ...state.values(), ...saved.values()]);
    });

    it(`${c}: with the encoder weights (our encoder file) the logits are PEFT's within 1e-4`, async () => {
      const dir = join(tmp, c.replace('/', '_'));
      await copyFixtureWithStateFile(join(FIXTURES, c), dir, ENCODER_FILE, 'prompt_encoder.default.');
      const { peft, io } = await loadFixtureCase(join(FIXTURES, c), prefixTuning, { adapterDir: dir, trainable: true });
      expect(prefixEncoderOf(peft.adapter('default')).reparameterised).toBe(true);
      const err = fixtureLogitsDiff(peft, io);
      console.log(`[parity] ${c} from encoder weights: max abs diff ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
      tf.dispose([...io.values()]);
      peft.dispose();
    });
  }
});
