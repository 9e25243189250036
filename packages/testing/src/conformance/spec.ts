import type { PeftConfigBase, PeftMethod } from '@peftjs/core';
import type { TrainOptions } from '../helpers.js';
import type { TestModelName, TestModelSpec } from '../models/index.js';

/**
 * Which groups of checks apply to a method. Every exclusion lives here, with its default: a
 * method (or one case) turns a group off with a reason visible in the test names.
 */
export interface ConformanceApplies {
  /**
   * merge / unmerge / safe merge / disabling while merged. Default: the method declares no
   * `notMergeable` reason. A method that declares one is checked to refuse merging instead.
   */
  merge: boolean;
  /** A batch whose rows use different adapters. Off for methods that change the sequence length (prompt learning). */
  mixedBatch: boolean;
  /** Save → load into a fresh model, and the written adapter_config.json. */
  saveLoad: boolean;
  /** Two adapters side by side: switching, trainable flags, deleting. */
  multipleAdapters: boolean;
  /** `disableAdapter(fn)`. */
  disable: boolean;
  /** `tf.memory().numTensors` over training steps and a forward pass. */
  memory: boolean;
}

export type ConformanceGroup = keyof ConformanceApplies;

export function defaultApplies(method: PeftMethod<PeftConfigBase>): ConformanceApplies {
  return {
    merge: !method.notMergeable,
    mixedBatch: true,
    saveLoad: true,
    multipleAdapters: true,
    disable: true,
    memory: true,
  };
}

/** Numerical tolerances of the checks that are not exact. */
export interface ConformanceTolerances {
  /** |merged − unmerged| output. Default 1e-4. */
  merge: number;
  /** |weights after unmerge − weights before merge|. Default 1e-6. */
  unmerge: number;
  /** Mixed batch rows vs the same rows run alone, and base output while merged. Default 1e-5. */
  rows: number;
  /** The least change of the output that training must cause. Default 1e-5. */
  trained: number;
}

export const DEFAULT_TOLERANCES: ConformanceTolerances = { merge: 1e-4, unmerge: 1e-6, rows: 1e-5, trained: 1e-5 };

/** One model + config the method is checked on. */
export interface ConformanceCase {
  /** A built-in test model, or your own. */
  model: TestModelName | TestModelSpec;
  /** The adapter config in PEFT's fields; `peft_type` defaults to the method's type. */
  config: Record<string, unknown>;
  /** Shown in the test names; default: the model and the config. */
  name?: string;
  /** The trainable parameter count you expect (computed by hand), checked against the model's count. */
  trainableParams?: number;
  /** Overrides the spec's `applies` for this case. */
  applies?: Partial<ConformanceApplies>;
  /**
   * Checks known to fail, by check id, with the reason (a bug to fix, not a check that does not
   * apply). They run as expected failures: the suite stays green until the bug is fixed, and then
   * fails, asking for the entry to be removed.
   */
  knownFailures?: Readonly<Record<string, string>>;
}

export interface ConformanceSpec {
  /** Default: the method's `meta.name`. */
  name?: string;
  method: PeftMethod<PeftConfigBase>;
  cases: readonly ConformanceCase[];
  applies?: Partial<ConformanceApplies>;
  /** How adapters are trained before the checks that need a trained adapter. Default: 5 Adam steps, lr 0.01. */
  train?: TrainOptions;
  tolerances?: Partial<ConformanceTolerances>;
}
