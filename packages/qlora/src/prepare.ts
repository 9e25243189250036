// PEFT's `prepare_model_for_kbit_training` for a model with 4-bit linears. What it does that matters here:
// - freezes every base parameter;
// - keeps norms, embeddings and biases in float32 (peftjs holds every float parameter in float32 already,
//   so nothing is cast: the memory blow-up PEFT users meet from the fp32 upcast cannot happen twice);
// - optional activation recomputation per decoder layer: NOT provided yet (see README: the decoder layers
//   read per-step tensors — attention bias, RoPE tables — that live only until the forward pass ends, so a
//   layer cannot be re-run in the backward pass without a hook in @peftjs/models).
import type { PeftBaseModel } from '@peftjs/core';
import { linear4bitModules } from './save.js';

export interface KbitTrainingOptions {
  /** PEFT's `use_gradient_checkpointing`. Only `false` is supported today; `true` is an error, not a silent no-op. */
  gradientCheckpointing?: boolean;
}

export interface KbitTrainingReport {
  /** Base parameters frozen. */
  frozen: number;
  /** 4-bit linears of the base. */
  quantizedLinears: number;
}

/** Freezes the base of a model with 4-bit linears before adapters are added (as PEFT, call it first). */
export function prepareModelForKbitTraining(model: PeftBaseModel<unknown, unknown>, opts: KbitTrainingOptions = {}): KbitTrainingReport {
  if (opts.gradientCheckpointing) {
    throw new Error(
      'prepareModelForKbitTraining: gradientCheckpointing (activation recomputation) is not implemented in peftjs yet; pass false',
    );
  }
  const params = model.namedParameters();
  model.requiresGrad(false);
  return { frozen: params.length, quantizedLinears: linear4bitModules(model).length };
}
