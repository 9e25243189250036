import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { PeftModel, PeftRegistry, adapterStateDict, registry as defaultRegistry, type ModelOutput } from '@peftjs/core';
import { createEmbConv1d, createMlp, forwardLogits, maxAbsDiff, type MlpInputs, type TestMlp } from '@peftjs/testing';
import { Ia3Hook, ia3, parseIa3Config } from '../src/index.js';

const registry = new PeftRegistry().use(ia3);

function mlpWithIa3(config: Record<string, unknown>): { model: TestMlp; peft: PeftModel<MlpInputs, ModelOutput> } {
  const model = createMlp({ inFeatures: 2, hiddenSize: 2, outFeatures: 2 });
  model.lin0.weight.assign(
    tf.tensor2d([
      [1, 2],
      [3, 4],
    ]),
  );
  model.lin0.bias!.assign(tf.tensor1d([10, 20]));
  const peft = new PeftModel(model, { registry });
  peft.addAdapter('default', { peft_type: 'IA3', target_modules: ['lin0'], ...config });
  return { model, peft };
}

function lin0Output(model: TestMlp, x: number[][]): number[] {
  return Array.from(model.lin0.forward(tf.tensor2d(x)).dataSync());
}

describe('(IA)³', () => {
  it("fills PEFT's defaults", () => {
    const c = parseIa3Config({ target_modules: ['q'] });
    expect(c).toMatchObject({
      peft_type: 'IA3',
      feedforward_modules: null,
      fan_in_fan_out: false,
      init_ia3_weights: true,
      modules_to_save: null,
    });
  });

  it('rejects feedforward_modules that are not a subset of target_modules, naming the field', () => {
    expect(() => parseIa3Config({ target_modules: ['k_proj'], feedforward_modules: ['down_proj'] })).toThrow(
      'IA3 feedforward_modules must be a subset of target_modules: ["down_proj"] not in ["k_proj"]',
    );
  });

  it('rejects a non-boolean init_ia3_weights, naming the field', () => {
    expect(() => parseIa3Config({ target_modules: ['q'], init_ia3_weights: 'yes' })).toThrow(
      'IA3 init_ia3_weights must be true or false, got "yes"',
    );
  });

  it("keeps PEFT's names and shapes: [out, 1] for scaled outputs, [1, in] for feed-forward inputs", () => {
    const model = createMlp();
    const peft = new PeftModel(model, { registry });
    peft.addAdapter('default', { peft_type: 'IA3', target_modules: ['lin0', 'lin1'], feedforward_modules: ['lin1'] });
    const shapes = [...adapterStateDict(peft.adapter('default'))].map(([name, t]) => [name, t.shape]);
    expect(shapes).toEqual([
      ['base_model.model.lin0.ia3_l', [8, 1]],
      ['base_model.model.lin1.ia3_l', [1, 8]],
    ]);
    expect(
      peft
        .namedParameters()
        .map(([n]) => n)
        .slice(-2),
    ).toEqual(['lin0.ia3_l.default', 'lin1.ia3_l.default']);
    peft.dispose();
    model.dispose();
  });

  it('starts as the identity: outputs equal the base model', () => {
    const model = createEmbConv1d();
    const ids = { inputIds: tf.tensor2d([[1, 2, 3]], [1, 3], 'int32') };
    const base = forwardLogits(model, ids);
    const peft = new PeftModel(model, { registry });
    peft.addAdapter('default', { peft_type: 'IA3', target_modules: ['conv', 'lm_head'], feedforward_modules: ['lm_head'] });
    expect(maxAbsDiff(forwardLogits(peft, ids), base)).toBe(0);
    peft.dispose();
    model.dispose();
  });

  it('scales the output of a layer, bias included: y = (W·x + b)·ℓ', () => {
    const { model, peft } = mlpWithIa3({});
    (peft.adapter('default').hooks[0].hook as Ia3Hook).ia3L.assign(tf.tensor2d([[2], [0.5]]));
    // W·x + b = [1·1 + 2·1 + 10, 3·1 + 4·1 + 20] = [13, 27]
    expect(lin0Output(model, [[1, 1]])).toEqual([26, 13.5]);
  });

  it('scales the input of a feed-forward layer: y = W·(x·ℓ) + b', () => {
    const { model, peft } = mlpWithIa3({ feedforward_modules: ['lin0'] });
    (peft.adapter('default').hooks[0].hook as Ia3Hook).ia3L.assign(tf.tensor2d([[2, 0.5]]));
    // x·ℓ = [2, 0.5]: [1·2 + 2·0.5 + 10, 3·2 + 4·0.5 + 20]
    expect(lin0Output(model, [[1, 1]])).toEqual([13, 28]);
  });

  it('merges an output scaling into the weight rows and the bias, and unmerges it', () => {
    const { model, peft } = mlpWithIa3({});
    (peft.adapter('default').hooks[0].hook as Ia3Hook).ia3L.assign(tf.tensor2d([[2], [0.5]]));
    peft.merge();
    expect(Array.from(model.lin0.weight.dataSync())).toEqual([2, 4, 1.5, 2]);
    expect(Array.from(model.lin0.bias!.dataSync())).toEqual([20, 10]);
    peft.unmerge();
    expect(maxAbsDiff(model.lin0.weight, [1, 2, 3, 4])).toBeLessThan(1e-6);
    expect(maxAbsDiff(model.lin0.bias!, [10, 20])).toBeLessThan(1e-6);
  });

  it('merges a feed-forward scaling into the weight columns and leaves the bias', () => {
    const { model, peft } = mlpWithIa3({ feedforward_modules: ['lin0'] });
    (peft.adapter('default').hooks[0].hook as Ia3Hook).ia3L.assign(tf.tensor2d([[2, 0.5]]));
    peft.merge();
    expect(Array.from(model.lin0.weight.dataSync())).toEqual([2, 1, 6, 2]);
    expect(Array.from(model.lin0.bias!.dataSync())).toEqual([10, 20]);
  });

  it('refuses an Embedding target, naming it', () => {
    const model = createEmbConv1d();
    const peft = new PeftModel(model, { registry });
    expect(() => peft.addAdapter('default', { peft_type: 'IA3', target_modules: ['emb'] })).toThrow(
      'IA3 target_modules: emb is an Embedding',
    );
    expect(peft.adapterNames).toEqual([]);
    model.dispose();
  });

  it("uses PEFT's default targets for a known architecture and asks for them otherwise", () => {
    const model = createMlp();
    const peft = new PeftModel(model, { registry });
    expect(() => peft.addAdapter('default', { peft_type: 'IA3' })).toThrow(
      'IA3 target_modules must be set: no default targets for model type "peftjs-mlp"',
    );
    model.dispose();
  });

  it('registers itself in the default registry through the side-effect entry', async () => {
    await import('../src/register.js');
    expect(defaultRegistry.get('IA3')).toBe(ia3);
  });
});
