import type { PeftModel, StepEndInfo, TrainingHookContext, TrainingHooks } from '@peftjs/core';

export type { StepEndInfo, TrainingHookContext, TrainingHooks };

export interface BoundHooks {
  hooks: TrainingHooks;
  adapterName?: string;
}

/**
 * The hooks of a run: the given ones, then those of each active, trainable adapter's method found on its
 * optional `training` property (see the note on `PeftMethodDefinition` in the README).
 */
export function collectTrainingHooks<I, O>(model: PeftModel<I, O>, given: readonly TrainingHooks[] = []): BoundHooks[] {
  const out: BoundHooks[] = given.map((hooks) => ({ hooks }));
  for (const name of model.activeAdapters) {
    const record = model.adapter(name);
    if (record.method.training && model.isTrainable(name)) out.push({ hooks: record.method.training, adapterName: name });
  }
  return out;
}
