import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, Rng, adapterStateDict, type ModelOutput } from '@peftjs/core';
import { prefixTuning } from '@peftjs/prefix';
import { BertForTokenClassification, loadModel, loadWeights, type ModelBatch } from '@peftjs/models';
import { FIXTURES, disposeBatch, hasFixtures, lossOf, trainOn } from '@peftjs/testing/fixtures';
import { initClassificationHead, pTuningV2Config } from '../src/index.js';

// P-Tuning v2 adapters are PREFIX_TUNING adapters: @peftjs/prefix runs them.
const registry = new PeftRegistry().use(prefixTuning);
const BERT = join(FIXTURES, 'bert/base');

/** Sequence classification: class c's rows are drawn from its own 6 token ids (40 + 6c …). */
function topicTask(seed: number, B = 12, T = 6): ModelBatch {
  const rng = new Rng(seed);
  const ids: number[] = [];
  const labels: number[] = [];
  for (let b = 0; b < B; b++) {
    const c = rng.int(3);
    ids.push(...Array.from({ length: T }, () => 40 + 6 * c + rng.int(6)));
    labels.push(c);
  }
  return { inputIds: tf.tensor2d(ids, [B, T], 'int32'), attentionMask: tf.ones([B, T], 'int32'), labels: tf.tensor1d(labels, 'int32') };
}

/** Sequence tagging: tokens from 12 ids (60 … 71), each tagged id mod 3, in random contexts. */
function tagTask(seed: number, B = 8, T = 6): ModelBatch {
  const rng = new Rng(seed);
  const ids = Array.from({ length: B * T }, () => 60 + rng.int(12));
  return {
    inputIds: tf.tensor2d(ids, [B, T], 'int32'),
    attentionMask: tf.ones([B, T], 'int32'),
    labels: tf.tensor2d(
      ids.map((i) => i % 3),
      [B, T],
      'int32',
    ),
  };
}

async function bertTokenClassifier(): Promise<BertForTokenClassification> {
  const config = JSON.parse(readFileSync(join(BERT, 'config.json'), 'utf8'));
  const model = new BertForTokenClassification(config, { rng: new Rng(0) });
  await loadWeights(model, BERT, { architecture: 'BertForTokenClassification', strict: false });
  return model.eval();
}

describe.skipIf(!hasFixtures)('P-Tuning v2 (deep prompts + a randomly initialised head)', () => {
  it("initClassificationHead gives the adapter's classifier copy N(0, 0.02²) weights and zero biases, leaving the base head", async () => {
    const base = await loadModel(BERT);
    const original = tf.clone(base.getModule('classifier').parameter('weight')!);
    const peft = new PeftModel(base as never, { registry, rng: new Rng(1) });
    peft.addAdapter('default', pTuningV2Config({ numVirtualTokens: 4 }));
    initClassificationHead(peft, 'default', { rng: new Rng(2) });
    const head = peft.adapter('default').savedModules.get('classifier')!;
    const w = head.get('weight')!.dataSync() as Float32Array;
    const std = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
    expect(std).toBeGreaterThan(0.01);
    expect(std).toBeLessThan(0.03);
    expect([...(head.get('bias')!.dataSync() as Float32Array)]).toEqual([0, 0, 0]);
    const kept = peft.disableAdapter(() => base.getModule('classifier').parameter('weight')!);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(kept, original))).dataSync()[0])).toBe(0);
    // saved as PEFT saves a prompt-learning classifier copy
    expect([...adapterStateDict(peft.adapter('default')).keys()].sort()).toEqual([
      'base_model.classifier.bias',
      'base_model.classifier.weight',
      'prompt_embeddings',
    ]);
    original.dispose();
    peft.dispose();
  });

  it('initClassificationHead refuses an adapter that trains no head', async () => {
    const peft = new PeftModel((await loadModel(BERT)) as never, { registry });
    peft.addAdapter('default', pTuningV2Config({ numVirtualTokens: 4, taskType: 'CAUSAL_LM' }));
    expect(() => initClassificationHead(peft)).toThrow(
      'initClassificationHead: adapter "default" trains no classifier (task_type "CAUSAL_LM"; use SEQ_CLS or TOKEN_CLS)',
    );
    peft.dispose();
  });

  it('sequence classification on BERT: learns a topic task, the held-out loss falling by more than 10%', async () => {
    const peft = new PeftModel((await loadModel(BERT)) as never, { registry, rng: new Rng(1) }) as PeftModel<ModelBatch, ModelOutput>;
    peft.addAdapter('default', pTuningV2Config({ numVirtualTokens: 4 }));
    initClassificationHead(peft, 'default', { rng: new Rng(2) });
    const train = [1, 3, 4].map((seed) => topicTask(seed));
    const heldOut = topicTask(2, 24);
    const before = lossOf(peft, heldOut);
    trainOn(peft, train, 20, 0.05);
    const after = lossOf(peft, heldOut);
    console.log(`[train] P-Tuning v2 SEQ_CLS, bert fixture: held-out loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
    expect(after).toBeLessThan(before * 0.9);
    [...train, heldOut].forEach(disposeBatch);
    peft.dispose();
  });

  it('sequence tagging (token classification) on BERT: learns a tagging task, the held-out loss falling by more than 10%', async () => {
    const peft = new PeftModel(await bertTokenClassifier(), { registry, rng: new Rng(1) }) as PeftModel<ModelBatch, ModelOutput>;
    peft.addAdapter('default', pTuningV2Config({ numVirtualTokens: 4, taskType: 'TOKEN_CLS' }));
    initClassificationHead(peft, 'default', { rng: new Rng(2) });
    expect(peft.adapter('default').savedModules.has('classifier')).toBe(true);
    const train = [1, 3, 4].map((seed) => tagTask(seed));
    const heldOut = tagTask(2, 16);
    const before = lossOf(peft, heldOut);
    trainOn(peft, train, 20, 0.05);
    const after = lossOf(peft, heldOut);
    console.log(`[train] P-Tuning v2 TOKEN_CLS, bert fixture: held-out loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
    expect(after).toBeLessThan(before * 0.9);
    [...train, heldOut].forEach(disposeBatch);
    peft.dispose();
  });
});
