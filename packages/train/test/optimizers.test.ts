import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entryToTensor, readSafetensorsFile } from '@peftjs/core/io';
import { AdamW, SGD, clipByGlobalNorm, globalNorm, type NamedVariable } from '../src/index.js';

const FIXTURES = process.env.PEFTJS_FIXTURES ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures');

afterEach(() => tf.disposeVariables());

const param = (name: string, values: number[]): NamedVariable => [name, tf.variable(tf.tensor1d(values), true)];
const read = (v: tf.Tensor) => Array.from(v.dataSync());

describe('AdamW', () => {
  it('matches one torch.optim.AdamW step on the LLaMA LoRA fixture within 1e-6', async () => {
    const dir = `${FIXTURES}/llama/lora`;
    const [before, after, step] = await Promise.all(
      ['adapter_model.safetensors', 'adapter_model_after_step.safetensors', 'train_step.safetensors'].map((f) =>
        readSafetensorsFile(`${dir}/${f}`),
      ),
    );
    const params: NamedVariable[] = [];
    const grads: tf.Tensor[] = [];
    for (const [gradName, entry] of step.tensors) {
      if (!gradName.startsWith('grad.')) continue;
      const name = gradName.slice('grad.'.length).replace('.default.', '.');
      params.push([name, tf.variable(entryToTensor(before.tensors.get(name)!), true)]);
      grads.push(entryToTensor(entry));
    }
    expect(params.length).toBe(8);
    const adamw = new AdamW(params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    adamw.step(grads, 1e-2);
    let maxErr = 0;
    for (const [name, v] of params) {
      const want = entryToTensor(after.tensors.get(name)!);
      maxErr = Math.max(
        maxErr,
        tf.tidy(() => tf.max(tf.abs(tf.sub(v, want))).dataSync()[0]),
      );
      want.dispose();
    }
    console.log(`AdamW vs torch max abs error: ${maxErr.toExponential(3)}`);
    expect(maxErr).toBeLessThan(1e-6);
    tf.dispose(grads);
    adamw.dispose();
  });

  it('applies decoupled weight decay, bias correction and eps outside the square root over two steps', () => {
    const p = param('w', [1, -2]);
    const opt = new AdamW([p], { betas: [0.9, 0.99], eps: 1e-3, weightDecay: 0.1 });
    let w = [1, -2];
    const m = [0, 0];
    const v = [0, 0];
    const gs = [
      [0.5, -1],
      [0.25, 2],
    ];
    gs.forEach((g, k) => {
      const t = k + 1;
      const lr = 0.1;
      w = w.map((x, i) => {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
        const decayed = x * (1 - lr * 0.1);
        return decayed - (lr / (1 - 0.9 ** t)) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - 0.99 ** t) + 1e-3));
      });
      const gt = tf.tensor1d(g);
      opt.step([gt], lr);
      gt.dispose();
    });
    read(p[1]).forEach((x, i) => expect(x).toBeCloseTo(w[i], 6));
    expect(opt.stepCount).toBe(2);
    opt.dispose();
  });

  it('restores its state from getState so that the next step is identical', () => {
    const a = param('w', [0.3, 0.7]);
    const b = param('w', [0.3, 0.7]);
    const oa = new AdamW([a]);
    const ob = new AdamW([b]);
    const g = tf.tensor1d([0.1, -0.4]);
    oa.step([g], 0.01);
    const saved = oa.getState();
    const copy = { tensors: new Map([...saved.tensors].map(([k, t]) => [k, tf.clone(t)])), info: { ...saved.info } };
    b[1].assign(a[1]);
    ob.setState(copy);
    oa.step([g], 0.01);
    ob.step([g], 0.01);
    expect(read(b[1])).toEqual(read(a[1]));
    expect(ob.stepCount).toBe(2);
    tf.dispose([g, ...copy.tensors.values()]);
    oa.dispose();
    ob.dispose();
  });

  it('rejects a state with a missing tensor, naming it', () => {
    const opt = new AdamW([param('w', [1])]);
    expect(() => opt.setState({ tensors: new Map(), info: { name: 'AdamW', step: 1 } })).toThrow('missing exp_avg.w');
    opt.dispose();
  });

  it('disposes its state variables with dispose()', () => {
    const p = param('w', [1, 2, 3]);
    const n = tf.memory().numTensors;
    const opt = new AdamW([p]);
    expect(tf.memory().numTensors).toBe(n + 2);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(n);
  });
});

describe('SGD', () => {
  it('uses the gradient as the first momentum buffer and μ·buf + (1−dampening)·g after, as torch', () => {
    const p = param('w', [1]);
    const opt = new SGD([p], { momentum: 0.9, dampening: 0.5 });
    const g1 = tf.tensor1d([2]);
    const g2 = tf.tensor1d([4]);
    opt.step([g1], 0.1); // buf = 2, w = 1 - 0.2 = 0.8
    expect(read(p[1])[0]).toBeCloseTo(0.8, 6);
    opt.step([g2], 0.1); // buf = 0.9·2 + 0.5·4 = 3.8, w = 0.8 - 0.38 = 0.42
    expect(read(p[1])[0]).toBeCloseTo(0.42, 6);
    tf.dispose([g1, g2]);
    opt.dispose();
  });

  it('adds L2 weight decay to the gradient and supports Nesterov momentum', () => {
    const p = param('w', [1]);
    const opt = new SGD([p], { momentum: 0.5, weightDecay: 0.1, nesterov: true });
    const g = tf.tensor1d([1]);
    opt.step([g], 0.1); // d = 1.1, buf = 1.1, d' = 1.1 + 0.55 = 1.65, w = 0.835
    expect(read(p[1])[0]).toBeCloseTo(0.835, 6);
    g.dispose();
    opt.dispose();
  });

  it('without momentum is p ← p − lr·g', () => {
    const p = param('w', [1, 2]);
    const opt = new SGD([p]);
    const g = tf.tensor1d([1, -1]);
    opt.step([g], 0.5);
    expect(read(p[1])).toEqual([0.5, 2.5]);
    g.dispose();
    opt.dispose();
  });
});

describe('gradient clipping', () => {
  it('returns the pre-clip global norm and scales gradients by maxNorm / (norm + 1e-6)', () => {
    const g = [tf.tensor1d([3, 0]), tf.tensor1d([4])];
    const { grads, norm } = clipByGlobalNorm(g, 1);
    expect(norm).toBeCloseTo(5, 6);
    expect(read(grads[0])[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(read(grads[1])[0]).toBeCloseTo(4 / (5 + 1e-6), 6);
    const n = globalNorm(grads);
    expect(n.dataSync()[0]).toBeCloseTo(1, 5);
    tf.dispose([...g, ...grads, n]);
  });

  it('leaves gradients below the threshold unchanged', () => {
    const g = [tf.tensor1d([0.3, 0.4])];
    const { grads, norm } = clipByGlobalNorm(g, 1);
    expect(norm).toBeCloseTo(0.5, 6);
    expect(grads[0]).toBe(g[0]);
    tf.dispose(g);
  });
});
