// PEFT's `prepare_model_for_kbit_training` for a model with 4-bit linears. What it does that matters here:
// - freezes every base parameter;
// - keeps norms, embeddings and biases in float32 (peftjs holds every float parameter in float32 already,
//   so nothing is cast: the memory blow-up PEFT users meet from the fp32 upcast cannot happen twice);
// - activation recomputation per decoder layer (`use_gradient_checkpointing`, on by default as in PEFT):
//   the model's `gradientCheckpointing` (`@peftjs/models`), so that long sequences fit.
import type { PeftBaseModel } from '@peftjs/core';
import { linear4bitModules } from './save.js';

export interface KbitTrainingOptions {
  /**
   * PEFT's `use_gradient_checkpointing`, default true as in PEFT: each decoder layer keeps only its input
   * for the backward pass and runs again there (about one more forward pass of compute, far less memory).
   * `true` on a model that cannot recompute its layers is an error; left at the default it is skipped there.
   */
  gradientCheckpointing?: boolean;
}

export interface KbitTrainingReport {
  /** Base parameters frozen. */
  frozen: number;
  /** 4-bit linears of the base. */
  quantizedLinears: number;
  /** Whether activation recomputation is now on. */
  gradientCheckpointing: boolean;
}

/** Freezes the base of a model with 4-bit linears before adapters are added (as PEFT, call it first). */
export function prepareModelForKbitTraining(model: PeftBaseModel<unknown, unknown>, opts: KbitTrainingOptions = {}): KbitTrainingReport {
  const recompute = opts.gradientCheckpointing ?? true;
  const offered = 'gradientCheckpointing' in model;
  if (opts.gradientCheckpointing === true && !offered) {
    throw new Error(
      `prepareModelForKbitTraining: model ${model.dims.modelType} offers no gradientCheckpointing (activation recomputation)`,
    );
  }
  const params = model.namedParameters();
  model.requiresGrad(false);
  if (offered) model.gradientCheckpointing = recompute;
  return { frozen: params.length, quantizedLinears: linear4bitModules(model).length, gradientCheckpointing: offered && recompute };
}
