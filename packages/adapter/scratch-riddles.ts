import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { PeftModel, PeftRegistry, Rng } from '@peftjs/core';
import { loadModel, loadTokenizer } from '@peftjs/models';
import { Trainer, buildDataset, collateExamples } from '@peftjs/train';
import { bottleneckAdapter } from './src/index.ts';
const DIR = '/work/main/packages/models/assets/peftjs-tiny-llama';
const R = '/work/main/packages/cli/assets/riddles';
const tok = await loadTokenizer(DIR);
const data = buildDataset({ text: readFileSync(`${R}/train.jsonl`, 'utf8'), file: 'train' }, tok as any, { validationText: { text: readFileSync(`${R}/valid.jsonl`, 'utf8'), file: 'valid' } });
console.log(data.train.length, data.validation.length, Math.max(...data.train.map(e => e.inputIds.length)));
const records = readFileSync(`${R}/valid.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const cands = [...new Set(records.map((r: any) => r.completion))];
function accuracy(peft: any): number {
  peft.eval();
  let correct = 0;
  for (const r of records) {
    const p = tok.encode(r.prompt);
    const rows = cands.map((c) => { const ids = [...p, ...tok.encode(c, { addSpecialTokens: false })]; return { inputIds: ids, labels: ids.map((t, i) => (i < p.length ? -100 : t)) }; });
    const batch = collateExamples(rows, 0);
    const scores = tf.tidy(() => {
      const logits = peft.forward(batch).logits as tf.Tensor; const [B, T, V] = logits.shape;
      const lp = tf.logSoftmax(tf.slice(logits, [0, 0, 0], [B, T - 1, V]));
      const lab = tf.slice(batch.labels!, [0, 1], [B, T - 1]);
      const valid = tf.notEqual(lab, -100);
      const safe = tf.where(valid, lab, tf.zerosLike(lab));
      const picked = tf.sum(tf.mul(lp, tf.oneHot(tf.cast(safe, 'int32'), V)), -1);
      return tf.sum(tf.where(valid, picked, tf.zerosLike(picked)), 1).dataSync();
    });
    tf.dispose(Object.values(batch));
    const best = [...scores].indexOf(Math.max(...scores));
    if (cands[best] === r.completion) correct++;
  }
  return correct / records.length;
}
const mode = process.env.MODE ?? 'adapter';
const model = await loadModel(DIR);
const peft = new PeftModel(model as any, { registry: new PeftRegistry().use(bottleneckAdapter), rng: new Rng(1) });
let t0 = performance.now();
console.log('base acc', accuracy(peft), ((performance.now() - t0) / 1000).toFixed(1), 's');
if (mode === 'adapter') peft.addAdapter('default', { peft_type: 'BOTTLENECK_ADAPTER', config: process.env.PRESET ?? 'double_seq_bn', reduction_factor: Number(process.env.RF ?? 8) });
else model.requiresGrad(true);
const { trainable, all } = peft.countParameters(); console.log(mode, 'trainable', trainable, all, (100 * trainable / all).toFixed(2) + '%');
const t = new Trainer({ model: peft as any, trainData: data.train, evalData: data.validation, padTokenId: 0, batchSize: 8, epochs: Number(process.env.EPOCHS ?? 3), learningRate: Number(process.env.LR ?? 1e-3), schedule: 'linear', warmupSteps: 0, seed: 7, onEvent: (e) => { if (e.type === 'eval') console.log(e.step, 'val_loss', e.val_loss); } });
t0 = performance.now();
const res = await t.train();
console.log('train s', ((performance.now() - t0) / 1000).toFixed(1), 'steps', res.step, 'val_loss', res.lastEval?.loss);
t0 = performance.now();
console.log(mode, 'acc', accuracy(peft), ((performance.now() - t0) / 1000).toFixed(1), 's');
