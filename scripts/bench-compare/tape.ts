// Where a LoRA step's tape memory goes at the SmolLM-135M shape: the bytes of the tensors the tape keeps
// for the backward pass at the end of the forward pass (unique data, parameters excluded), by the kernel
// that first saved them. Run it at two layer counts: the difference is the cost of one decoder layer.
//   node --conditions=@peftjs/source --import tsx scripts/bench-compare/tape.ts --layers 4 [--seq 128] [--recompute]
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@peftjs/backend-node';
import { PeftModel, PeftRegistry, Rng, type TokenBatch } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { SHAPES, arg, buildLlama } from './shapes.js';

const idOf = (t: tf.Tensor) => (t.dataId as { id: number }).id;

await setupBackend({ prefer: 'wasm', threads: 1 });
const s = { ...SHAPES.smol, layers: Number(arg('layers', '2')), seq: Number(arg('seq', '128')) };
const base = buildLlama(s);
const peft = new PeftModel<TokenBatch>(base, { registry: new PeftRegistry().use(lora) });
peft.addAdapter('default', { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
if (process.argv.includes('--recompute')) {
  base.gradientCheckpointing = true;
  peft.train();
}
const rng = new Rng(2);
const ids = tf.tensor2d(
  Array.from({ length: s.seq }, () => rng.int(s.vocab)),
  [1, s.seq],
  'int32',
);
const vars = peft.trainableParameters().map(([, v]) => v);
tf.tidy(() => {
  tf.variableGrads(() => {
    const loss = peft.forward({ inputIds: ids, labels: ids }).loss as tf.Scalar;
    const seen = new Set<number>(Object.values(tf.engine().registeredVariables).map(idOf));
    const byKernel = new Map<string, number>();
    let total = 0;
    const tape = tf.engine().state.activeTape;
    for (const node of tape) {
      for (const t of node.saved ?? []) {
        if (seen.has(idOf(t))) continue;
        seen.add(idOf(t));
        total += t.size * 4;
        byKernel.set(node.kernelName, (byKernel.get(node.kernelName) ?? 0) + t.size * 4);
      }
    }
    const mb = (b: number) => Number((b / 2 ** 20).toFixed(2));
    const top = [...byKernel].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, mb(v)]);
    console.log(
      JSON.stringify({ layers: s.layers, seq: s.seq, tapeNodes: tape.length, savedMB: mb(total), byKernelMB: Object.fromEntries(top) }),
    );
    return loss;
  }, vars);
});
