// Loading a model folder, remembering where the model came from: PEFT writes that path (or hub
// name) as `base_model_name_or_path`, so that `AutoPeftModel.from_pretrained(adapter)` finds the base.
import { loadModelWithReport as loadFolder, type LoadOptions, type LoadReport } from './load.js';
import type { HfConfig } from './config.js';
import type { PretrainedModel } from './registry.js';

/** `loadModel`, also returning what was loaded, missing, unexpected or mismatched. The model's `nameOrPath` is `dir`. */
export async function loadModelWithReport(
  dir: string,
  opts: LoadOptions = {},
): Promise<{ model: PretrainedModel; report: LoadReport; config: HfConfig }> {
  const loaded = await loadFolder(dir, opts);
  loaded.model.nameOrPath = dir;
  return loaded;
}

/**
 * Builds the model a Hugging Face folder describes (`config.json`) and loads its weights
 * (`model.safetensors` or the shards of `model.safetensors.index.json`), in eval mode. The model
 * remembers `dir` as its `nameOrPath` (transformers' `name_or_path`).
 */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<PretrainedModel> {
  return (await loadModelWithReport(dir, opts)).model;
}
