import { it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../src/index.js';
it('dbg', async () => {
  const m = await loadModel('/work/shared/fixtures/llama/base');
  for (const [n, v] of m.namedParameters()) { try { v.dataSync(); } catch (e) { console.log('bad', n, (e as Error).message); } }
  try { m.forward({ inputIds: tf.tensor2d([[1,2,3]], [1,3], 'int32') }); } catch (e) { console.log((e as Error).stack); }
});
