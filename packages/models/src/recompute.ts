// Activation recomputation ("gradient checkpointing", Chen et al. 2016; transformers'
// `gradient_checkpointing_enable()`): a layer run through `recomputeLayer` keeps only its input
// for the backward pass, and its gradient runs the layer's forward again under a tape of its own.
// The memory the tape holds for L layers drops from every layer's intermediates to L layer inputs
// plus one layer's intermediates, for about one more forward pass of compute.
import * as tf from '@tensorflow/tfjs-core';
import { LinearLike, attentionPrefix, recordSeeds, replaySeeds, type Module, type SiteSlot, type SiteTable } from '@peftjs/core';
import type { AttentionStep } from './step.js';
import { isOutOfMemory, requestError } from './oom.js';

/** One layer as `recomputeLayer` runs it: everything it reads is an explicit tensor or a parameter it owns. */
export interface RecomputedLayer {
  /** The layer: its trainable parameters and those of the adapters at its linear sites are gradient inputs. */
  module: Module;
  /** Names the layer in messages (`llama layer 3`). */
  what: string;
  /** The non-linear sites the layer runs (its `sublayerOutput` slots): their active hooks' trainable variables are inputs too. */
  slots: ReadonlyArray<SiteSlot | undefined>;
  /** Per-step tensors the layer reads that need no gradient (attention bias, RoPE tables). */
  constants: readonly tf.Tensor[];
  /** Per-step tensors the layer reads that may need one (prefix keys and values from a trainable encoder). */
  inputs: readonly tf.Tensor[];
  /** The layer's forward over h, reading `constants` and `inputs` (in the order given) instead of the step's own. */
  run(h: tf.Tensor, constants: tf.Tensor[], inputs: tf.Tensor[]): tf.Tensor;
}

/**
 * The trainable variables a layer's forward reads: its own parameters (a fully fine-tuned or
 * `modules_to_save` layer) and the parameters of the active hooks at its linear sites and at `slots`.
 */
export function layerTrainableVariables(module: Module, slots: ReadonlyArray<SiteSlot | undefined>): tf.Variable[] {
  const out = new Set<tf.Variable>();
  for (const [, v] of module.namedParameters()) if (v.trainable) out.add(v);
  for (const [, m] of module.namedModules()) {
    if (m instanceof LinearLike) for (const v of m.peft.activeTrainableVariables()) out.add(v);
  }
  for (const s of slots) for (const v of s?.activeTrainableVariables() ?? []) out.add(v);
  return [...out];
}

/**
 * Runs `layer` over h ([B, T, D] → [B, T, D]) as one tape node whose forward keeps only h and
 * the per-step tensors, and whose gradient re-runs the forward (drawing the same dropout masks)
 * and returns the gradients of h, of every trainable variable the layer reads, and of `inputs`.
 * Without a tape (inference) it is the plain forward.
 */
export function recomputeLayer(layer: RecomputedLayer, h: tf.Tensor): tf.Tensor {
  const vars = layerTrainableVariables(layer.module, layer.slots);
  const nConst = layer.constants.length;
  let seeds: number[] = [];
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, ...rest] = args as tf.Tensor[];
    const inputs = rest.slice(vars.length);
    // what the tape keeps for this layer: its input and the step's tensors (clones sharing data)
    save([x, ...layer.constants, ...inputs]);
    const { result, seeds: drawn } = recordSeeds(() => tf.tidy(() => layer.run(x, [...layer.constants], inputs)));
    seeds = drawn;
    return {
      value: result,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ...more] = saved;
        return layerGradients(layer, vars, seeds, dy, xs, more.slice(0, nConst), more.slice(nConst));
      },
    };
  });
  return f(h, ...vars, ...layer.inputs);
}

/** The recomputation: dL/dx, dL/dvars, dL/dinputs for dy = dL/d(layer output). */
function layerGradients(
  layer: RecomputedLayer,
  vars: tf.Variable[],
  seeds: readonly number[],
  dy: tf.Tensor,
  x: tf.Tensor,
  constants: tf.Tensor[],
  inputs: tf.Tensor[],
): tf.Tensor[] {
  return tf.tidy(() => {
    const wanted: tf.Tensor[] = [x, ...vars, ...inputs];
    // every other trainable variable too, to refuse a layer that reads one we did not pass
    const passed = new Set<tf.Tensor>(vars);
    const others = Object.values(tf.engine().registeredVariables).filter((v) => v.trainable && !passed.has(v));
    const grads = ownTape(() => {
      let r: { value: tf.Tensor; grads: tf.Tensor[] };
      try {
        r = tf.engine().gradients(() => replaySeeds(seeds, () => layer.run(x, constants, inputs)), [...wanted, ...others], dy, true);
      } catch (e) {
        if (!isOutOfMemory(e)) throw e;
        throw requestError(layer.what, `recomputing for the backward pass over [${x.shape}]`, true, e);
      }
      r.value.dispose();
      const missed = others.filter((_, i) => r.grads[wanted.length + i] != null);
      if (missed.length > 0) {
        throw new Error(
          `gradient checkpointing: ${layer.what} reads trainable variable(s) ${missed.map((v) => v.name).join(', ')} that are neither its parameters nor those of an adapter hook at its sites, so recomputation cannot return their gradients`,
        );
      }
      return r.grads;
    });
    return wanted.map((t, i) => grads[i] ?? tf.zerosLike(t));
  });
}

/**
 * Runs a gradient computation inside a backward pass. tfjs keeps one tape: a `gradients` call at
 * depth 0 replaces it and sets it to null when done, which would lose the outer backward pass's
 * tape (its saved tensors) and fail its cleanup; so the outer tape is put back afterwards. The
 * inner tape's saved tensors are freed by the inner call, one layer at a time. When the
 * recomputation throws (out of memory), the outer backward pass stops without its cleanup: its
 * tape's saved tensors (and those of the failed recomputation's) are freed here, as tfjs would have.
 * (Reads and writes `tf.engine().state.activeTape`, a public field of tfjs-core 4's Engine.)
 */
function ownTape<T>(fn: () => T): T {
  const state = tf.engine().state;
  let outer: typeof state.activeTape | null = state.activeTape;
  try {
    return fn();
  } catch (e) {
    if (state.gradientDepth === 0) {
      for (const tape of new Set([state.activeTape, outer])) for (const node of tape ?? []) for (const t of node.saved ?? []) t.dispose();
      outer = null;
    }
    throw e;
  } finally {
    state.activeTape = outer!;
  }
}

/** Which decoder layers to run and how: the architecture's layer call, given the step and the shared tensors. */
export interface LayerLoop {
  numLayers: number;
  what: string;
  step: AttentionStep;
  sites: Required<SiteTable>;
  /** Recompute activations in the backward pass (training without a cache only). */
  recompute: boolean;
  layer(l: number): Module;
  /** Runs layer l; `shared` are the loop's per-step tensors (RoPE cos, sin) as the layer must read them. */
  forward(l: number, h: tf.Tensor, step: AttentionStep, shared: tf.Tensor[]): tf.Tensor;
  /** Per-step tensors every layer reads besides the step's bias and prefix (LLaMA's cos and sin). */
  shared?: tf.Tensor[];
}

/** Runs the layers over h [B, T, D], each through `recomputeLayer` when recomputation is on and the layer is training. */
export function runLayers(loop: LayerLoop, h: tf.Tensor): tf.Tensor {
  const { step, sites } = loop;
  const shared = loop.shared ?? [];
  let out = h;
  for (let l = 0; l < loop.numLayers; l++) {
    const module = loop.layer(l);
    if (!loop.recompute || !module.training || step.cache) {
      out = loop.forward(l, out, step, shared);
      continue;
    }
    // the prefix comes from a (maybe trainable) encoder outside the layer: an explicit input
    const prefix = attentionPrefix(sites.attentionKV[l], step.batchSize);
    out = recomputeLayer(
      {
        module,
        what: `${loop.what} layer ${l}`,
        slots: [sites.sublayerOutput[2 * l], sites.sublayerOutput[2 * l + 1]],
        constants: [step.bias(l), ...shared],
        inputs: prefix ? [prefix.key, prefix.value] : [],
        run: (x, [bias, ...sh], inputs) => loop.forward(l, x, withLayerTensors(step, bias!, inputs), sh),
      },
      out,
    );
  }
  return out;
}

/** The step as a recomputed layer sees it: its bias and prefix are the tensors the tape kept. */
function withLayerTensors(step: AttentionStep, bias: tf.Tensor, prefix: tf.Tensor[]): AttentionStep {
  const kv = prefix.length === 2 ? { key: prefix[0]!, value: prefix[1]! } : null;
  return { ...step, bias: () => bias, prefix: () => kv };
}
