// Merging LoRA adapters trained on a 4-bit base. PEFT's recommended deployment path is a float model:
// dequantize the base, add B·A·s (`mergeToFloat`). bitsandbytes' own merge re-quantizes the merged
// weight into 4 bits (`mergeRequantized`), which adds rounding error; it reports how much.
import * as tf from '@tensorflow/tfjs-core';
import type { Module, ModelOutput, PeftBaseModel, PeftModel } from '@peftjs/core';
import { linear4bitModules } from './save.js';

/** Turns every 4-bit linear of a model into a float32 linear holding its dequantized weight (in place). */
export function dequantizeModel(model: Module): number {
  const layers = linear4bitModules(model);
  for (const [, l] of layers) l.toFloat();
  return layers.length;
}

/**
 * Dequantizes the base's 4-bit linears and merges the active adapters into them (W = dequant(W4) + B·A·s):
 * returns the plain float base model, ready to save as a float Hugging Face folder.
 */
export function mergeToFloat<I, O>(peft: PeftModel<I, O>, opts: { safe?: boolean } = {}): PeftBaseModel<I, O> {
  dequantizeModel(peft.base as unknown as Module);
  return peft.mergeAndUnload(opts);
}

export interface RequantizeReport<I, O> {
  model: PeftBaseModel<I, O>;
  /** Layers re-quantized. */
  layers: number;
  /** max |W_merged − dequant(requantize(W_merged))| over those layers. */
  maxWeightDelta: number;
  /** max |logits with the unmerged adapter − logits of the re-quantized merged model| on `probe`. */
  maxLogitDelta: number;
  /** PEFT's warning, always given. */
  warning: string;
}

/**
 * bitsandbytes-style merge into the 4-bit weights: dequantize, add B·A·s, quantize again with the same
 * quant type, block size and double quantization (PEFT `lora.bnb.Linear4bit.merge`). The rounding error
 * it introduces is measured on the weights and on the logits of `probe`.
 */
export function mergeRequantized<I>(
  peft: PeftModel<I, ModelOutput>,
  probe: I,
  opts: { safe?: boolean } = {},
): RequantizeReport<I, ModelOutput> {
  const base = peft.base as unknown as Module;
  const before = tf.tidy(() => peft.forward(probe).logits);
  const layers = linear4bitModules(base).map(([, l]) => l);
  for (const l of layers) l.toFloat();
  const model = peft.mergeAndUnload(opts);
  let maxWeightDelta = 0;
  for (const l of layers) maxWeightDelta = Math.max(maxWeightDelta, l.requantize());
  const maxLogitDelta = tf.tidy(() => tf.max(tf.abs(tf.sub(model.forward(probe).logits, before))).dataSync()[0]);
  before.dispose();
  return {
    model,
    layers: layers.length,
    maxWeightDelta,
    maxLogitDelta,
    warning: 'Merge lora module to 4-bit linear may get different generations due to rounding errors.',
  };
}
