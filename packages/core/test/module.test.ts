import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module } from '../src/index.js';

class Block extends Module {
  readonly q: Linear;
  constructor() {
    super();
    this.q = this.registerModule('q_proj', new Linear(4, 3));
  }
}

describe('Module tree', () => {
  it('names parameters with Hugging Face dotted paths', () => {
    const root = new Module();
    const layers = root.registerModule('layers', new Module());
    layers.registerModule('0', new Block());
    const names = root.namedParameters().map(([n]) => n);
    expect(names).toEqual(['layers.0.q_proj.weight', 'layers.0.q_proj.bias']);
    expect(root.getModule('layers.0.q_proj')).toBeInstanceOf(Linear);
    root.dispose();
  });

  it('keeps a Linear weight as [out, in] and computes x·Wᵀ + b', () => {
    const l = new Linear(2, 3);
    l.weight.assign(
      tf.tensor2d([
        [1, 0],
        [0, 1],
        [1, 1],
      ]),
    );
    l.bias!.assign(tf.tensor1d([0, 0, 1]));
    const y = l.forward(tf.tensor2d([[2, 3]]));
    expect(Array.from(y.dataSync())).toEqual([2, 3, 6]);
    l.dispose();
  });
});
