// The step profile.ts and cpu-profile.ts time: a random-weight LLaMA of a bench shape with LoRA r 8
// on q,v, AdamW, on wasm (`--shape ref|smol`, `--seq N`, `--mode lora|forward`, `--threads N`).
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@peftjs/backend-node';
import { PeftModel, PeftRegistry, Rng } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { AdamW } from '@peftjs/train';
import { SHAPES, arg, buildLlama } from './shapes.js';

export const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
export const heap = () => (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.byteLength ?? 0;
export const rss = () => process.memoryUsage().rss;

/** Sets up wasm and the model from the command line; returns the step (one LoRA step or one forward). */
export async function benchStep(): Promise<{ mode: string; step: () => void }> {
  const s = { ...SHAPES[arg('shape', 'ref') as keyof typeof SHAPES] };
  if (Number(arg('seq', '0'))) s.seq = Number(arg('seq', '0'));
  const mode = arg('mode', 'lora');
  const info = await setupBackend({ prefer: 'wasm', threads: Number(arg('threads', '1')) });
  console.log(info.reason);
  const base = buildLlama(s);
  const peft = new PeftModel(base as never, { registry: new PeftRegistry().use(lora) });
  peft.addAdapter('default', { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
  console.log(
    `model built: tensors ${tf.memory().numTensors}, tf bytes ${mb(tf.memory().numBytes)}, wasm heap ${mb(heap())}, rss ${mb(rss())}`,
  );
  const params = peft.trainableParameters();
  const opt = new AdamW(params);
  const vars = params.map(([, v]) => v);
  const rng = new Rng(2);
  const ids = tf.tensor2d(
    Array.from({ length: s.batch * s.seq }, () => rng.int(s.vocab)),
    [s.batch, s.seq],
    'int32',
  );
  const fwd = (peft as unknown as { forward(b: object): { loss: tf.Scalar } }).forward.bind(peft);
  const step = () => {
    if (mode === 'forward') return void tf.tidy(() => fwd({ inputIds: ids, labels: ids }).loss.dataSync());
    const g = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => fwd({ inputIds: ids, labels: ids }).loss, vars);
      return vars.map((v) => grads[v.name]!);
    });
    opt.step(g, 1e-3);
    tf.dispose(g);
  };
  return { mode, step };
}
