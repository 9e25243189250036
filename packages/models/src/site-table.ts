import * as tf from '@tensorflow/tfjs-core';
import { Module, SiteSlot, applySublayerOutput, type SiteTable } from '@peftjs/core';

/** Module paths of a model's non-linear sites. */
export interface SitePaths {
  /** The token embedding module (`model.embed_tokens`). */
  inputEmbeddings: string;
  /** A layer's attention module (`model.layers.0.self_attn`). */
  attention(layer: number): string;
  /** Where a layer's attention output is taken (module of its output projection's block). */
  attentionOutput(layer: number): string;
  /** A layer's feed-forward block (`model.layers.0.mlp`). */
  ffn(layer: number): string;
}

/**
 * The full site table of a transformer: one `inputEmbeddings` slot, one `attentionKV` slot per
 * layer, and two `sublayerOutput` slots per layer ([2l] after attention, [2l+1] after the FFN).
 */
export function makeSiteTable(numLayers: number, paths: SitePaths): Required<SiteTable> {
  const attentionKV: Array<SiteSlot<'attentionKV'>> = [];
  const sublayerOutput: Array<SiteSlot<'sublayerOutput'>> = [];
  for (let l = 0; l < numLayers; l++) {
    attentionKV.push(new SiteSlot('attentionKV', { path: paths.attention(l), layer: l }));
    sublayerOutput.push(new SiteSlot('sublayerOutput', { path: paths.attentionOutput(l), layer: l, position: 'attention' }));
    sublayerOutput.push(new SiteSlot('sublayerOutput', { path: paths.ffn(l), layer: l, position: 'ffn' }));
  }
  return {
    inputEmbeddings: new SiteSlot('inputEmbeddings', { path: paths.inputEmbeddings }),
    attentionKV,
    sublayerOutput,
  };
}

/** A container whose children are named 0, 1, … (`nn.ModuleList`). */
export class ModuleList<M extends Module> extends Module {
  readonly length: number;

  constructor(items: M[]) {
    super();
    this.length = items.length;
    items.forEach((m, i) => this.registerModule(String(i), m));
  }

  /** The i-th child, read at call time (a method may have replaced it). */
  at(i: number): M {
    return this.child(String(i)) as M;
  }
}

/** A module with a one-tensor forward (every layer a method may swap in keeps this shape). */
export type TensorModule = Module & { forward(x: tf.Tensor): tf.Tensor };

/**
 * Runs the child `name` of `parent`, looked up at call time so that a method that replaced the
 * module (e.g. PEFT's `modules_to_save` copy of a classifier) is the one that runs.
 */
export function callChild(parent: Module, name: string, x: tf.Tensor): tf.Tensor {
  const m = parent.child(name) as TensorModule | undefined;
  if (!m || typeof m.forward !== 'function') throw new Error(`Module "${name}" is missing or has no forward(x)`);
  return m.forward(x);
}

/**
 * A pre-norm decoder block (LLaMA, GPT-2) with its two `sublayerOutput` sites:
 * h₁ = h + site(attention(norm₁(h))), out = h₁ + site(mlp(norm₂(h₁))). h: [B, T, D].
 */
export function preNormBlock(
  block: Module,
  layer: number,
  sites: Required<SiteTable>,
  h: tf.Tensor,
  names: { norm1: string; norm2: string; mlp: string },
  attention: (x: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => {
    const a = applySublayerOutput(sites.sublayerOutput[2 * layer], attention(callChild(block, names.norm1, h)), h);
    const h1 = tf.add(h, a);
    const m = applySublayerOutput(sites.sublayerOutput[2 * layer + 1], callChild(block, names.mlp, callChild(block, names.norm2, h1)), h1);
    return tf.add(h1, m);
  });
}
