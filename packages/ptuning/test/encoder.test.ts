import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, readAdapterConfig } from '@peftjs/core';
import { maxAbsDiff } from '@peftjs/testing';
import { FIXTURES, copyFixtureWithStateFile, fixtureLogitsDiff, hasFixtures, loadFixtureCase, readTensors } from '@peftjs/testing/fixtures';
import { PromptEncoder, encoderOutput, lstmDirection, pTuning, promptEncoderOf } from '../src/index.js';
import { ENCODER_FILE } from '@peftjs/core';

const tmp = mkdtempSync(join(tmpdir(), 'peftjs-ptuning-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('the LSTM', () => {
  it("computes torch's gates i, f, g, o with c ← f·c + i·g and h ← o·tanh(c)", () => {
    // one unit, one input: gate pre-activations are w_ih·x + b_ih + w_hh·h + b_hh
    const w = {
      weightIh: tf.tensor2d([[0.5], [-0.3], [0.8], [0.1]]),
      weightHh: tf.tensor2d([[0.2], [0.4], [-0.6], [0.9]]),
      biasIh: tf.tensor1d([0.1, 0, -0.1, 0.2]),
      biasHh: tf.tensor1d([0, 0.1, 0, -0.1]),
    };
    const xs = [1, -2];
    let h = 0;
    let c = 0;
    const want: number[] = [];
    for (const x of xs) {
      const pre = [0, 1, 2, 3].map(
        (k) => [0.5, -0.3, 0.8, 0.1][k] * x + [0.1, 0, -0.1, 0.2][k] + [0.2, 0.4, -0.6, 0.9][k] * h + [0, 0.1, 0, -0.1][k],
      );
      c = sigmoid(pre[1]) * c + sigmoid(pre[0]) * Math.tanh(pre[2]);
      h = sigmoid(pre[3]) * Math.tanh(c);
      want.push(h);
    }
    const x = tf.tensor2d(xs, [2, 1]);
    const out = lstmDirection(x, w, false);
    expect((out.arraySync() as number[][]).flat().map((v, i) => Math.abs(v - want[i]))).toEqual([
      expect.closeTo(0, 6),
      expect.closeTo(0, 6),
    ]);
    // the reverse direction reads the sequence from its end, and reports in the input's order
    const rev = lstmDirection(x, w, true);
    const back = lstmDirection(tf.reverse(x, 0), w, false);
    expect(maxAbsDiff(rev, tf.reverse(back, 0))).toBeLessThan(1e-7);
    tf.dispose([x, out, rev, back, ...Object.values(w)]);
  });

  it('applies encoder_dropout between LSTM layers only while training', () => {
    const encoder = new PromptEncoder({ numVirtualTokens: 4, tokenDim: 8, hiddenSize: 6, numLayers: 2 }, 'LSTM', {
      dropout: 0.5,
      rng: new Rng(3),
      tableOnly: false,
    });
    const [a, b] = [tf.tidy(() => encoder.output(false)), tf.tidy(() => encoder.output(false))];
    const c = tf.tidy(() => encoder.output(true));
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-4);
    tf.dispose([a, b, c]);
    encoder.dispose();
  });
});

const cases = ['llama/ptuning_mlp', 'llama/ptuning_lstm', 'bert/ptuning_mlp', 'bert/ptuning_lstm'];

describe.skipIf(!hasFixtures)("the prompt encoders against PEFT's PromptEncoder", () => {
  for (const c of cases) {
    it(`${c}: the encoder on PEFT's trained weights gives PEFT's prompt_embeddings within 1e-5`, async () => {
      const cfg = await readAdapterConfig(join(FIXTURES, c));
      const state = readTensors(join(FIXTURES, c, 'trainable_state.safetensors'));
      const saved = readTensors(join(FIXTURES, c, 'adapter_model.safetensors'));
      const out = encoderOutput(
        cfg.encoder_reparameterization_type as 'MLP' | 'LSTM',
        (k) => state.get(`prompt_encoder.default.${k}`)!,
        Number(cfg.encoder_num_layers),
        {
          dropout: 0,
          training: false,
          rng: new Rng(0),
        },
      );
      expect(maxAbsDiff(out, saved.get('prompt_embeddings')!)).toBeLessThan(1e-5);
      tf.dispose([out, ...state.values(), ...saved.values()]);
    });

    it(`${c}: with the encoder weights (our encoder file) the logits are PEFT's within 1e-4`, async () => {
      const dir = join(tmp, c.replace('/', '_'));
      await copyFixtureWithStateFile(join(FIXTURES, c), dir, ENCODER_FILE, 'prompt_encoder.default.');
      const { peft, io } = await loadFixtureCase(join(FIXTURES, c), pTuning, { adapterDir: dir, trainable: true });
      expect(promptEncoderOf(peft.adapter('default')).reparameterised).toBe(true);
      const err = fixtureLogitsDiff(peft, io);
      console.log(`[parity] ${c} from encoder weights: max abs diff ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
      tf.dispose([...io.values()]);
      peft.dispose();
    });
  }
});
