import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Linear, Rng } from '@peftjs/core';
import { causalLmLoss, chunkedCausalLmLoss } from '@peftjs/models';
import { WebGPUError, setupWebGPU } from '../src/index.js';
import { releaseWebGPU } from '../src/release.js';

beforeAll(() => setupWebGPU());
afterAll(() => releaseWebGPU('cpu')); // Dawn must be idle before the worker exits

// 512 predicted positions × 70,000 vocabulary entries: 143 MB of logits, over the 128 MiB binding limit
const [T, D, V] = [513, 16, 70_000];

// Heavy on SwiftShader (36M logits): opt-in with PEFTJS_WEBGPU_HEAVY=1.
describe.skipIf(!process.env['PEFTJS_WEBGPU_HEAVY'])('logits larger than a WebGPU binding', () => {
  it(
    'the full logits fail with a limit error; the vocabulary-chunked loss runs and equals the full loss on cpu',
    { timeout: 1_800_000 },
    async () => {
      const rng = new Rng(1);
      const hiddenValues = Float32Array.from({ length: T * D }, () => rng.normal());
      const labelValues = Int32Array.from({ length: T }, (_, i) => (i % 7 === 0 ? -100 : rng.int(V)));
      const make = () => {
        const head = new Linear(D, V, { bias: false, rng: new Rng(2) });
        return { head, hidden: tf.tensor3d(hiddenValues, [1, T, D]), labels: tf.tensor2d(labelValues, [1, T], 'int32') };
      };

      await tf.setBackend('cpu');
      const c = make();
      const want = (await tf.tidy(() => causalLmLoss(c.head.forward(c.hidden), c.labels)).data())[0]!;

      await tf.setBackend('webgpu');
      const g = make();
      expect(() => tf.tidy(() => causalLmLoss(g.head.forward(g.hidden), g.labels))).toThrow(WebGPUError);
      const loss = chunkedCausalLmLoss(g.head, g.hidden, g.labels, 8192);
      const got = (await loss.data())[0]!;
      console.log(`[large-vocab] chunked loss on webgpu ${got} vs full loss on cpu ${want}: |Δ| ${Math.abs(got - want).toExponential(2)}`);
      expect(Math.abs(got - want)).toBeLessThan(1e-4);
    },
  );
});
