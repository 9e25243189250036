import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../src/index.js';
import { FIXTURES, fixtureIndex, readTensors, maxAbsDiff } from './fixtures.js';

const index = fixtureIndex();

describe('base models match transformers 4.38.2 logits (fixtures/index.json "bases")', () => {
  for (const [name, { dir }] of Object.entries(index.bases)) {
    it(`${name} (${dir}) logits agree within 1e-4`, async () => {
      const model = await loadModel(join(FIXTURES, dir));
      const io = await readTensors(join(FIXTURES, dir, 'io_base.safetensors'));
      const expected = io.logits_base ?? io.logits;
      const { logits } = model.forward({ inputIds: io.input_ids, attentionMask: io.attention_mask });
      expect(logits.shape).toEqual(expected.shape);
      const diff = maxAbsDiff(logits, expected);
      console.log(`parity ${name}: max abs diff ${diff.toExponential(3)}`);
      expect(diff).toBeLessThan(1e-4);
      tf.dispose([logits, ...Object.values(io)]);
      model.dispose();
    });
  }
});
