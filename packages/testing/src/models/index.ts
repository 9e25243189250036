import type { ModelOutput, PeftBaseModel } from '@peftjs/core';
import { createEmbConv1d, embConv1dBatch, type TestEmbConv1d } from './emb-conv1d.js';
import { createMlp, mlpBatch, type TestMlp } from './mlp.js';

export interface BatchOptions {
  batchSize?: number;
  seed?: number;
  /** Include labels (for a loss). Default true. */
  labels?: boolean;
}

/**
 * A model the conformance kit can run: how to make it (equal weights for equal seeds) and how to
 * make a batch for it. Third parties can pass their own next to the built-in ones.
 */
export interface TestModelSpec<I = unknown> {
  name: string;
  create(seed: number): PeftBaseModel<I, ModelOutput>;
  batch(model: PeftBaseModel<I, ModelOutput>, opts: BatchOptions): I;
}

export const TEST_MODELS = {
  /** {@link TestMlp}: `lin0` → ReLU → `lin1`, sublayerOutput site. */
  mlp: {
    name: 'mlp',
    create: (seed: number) => createMlp({ seed }),
    batch: (model: PeftBaseModel<never, ModelOutput>, opts: BatchOptions) => mlpBatch(model as TestMlp, opts),
  },
  /** {@link TestEmbConv1d}: `emb` → `conv` (Conv1D) attention → `lm_head`; inputEmbeddings and attentionKV sites. */
  'emb-conv1d': {
    name: 'emb-conv1d',
    create: (seed: number) => createEmbConv1d({ seed }),
    batch: (model: PeftBaseModel<never, ModelOutput>, opts: BatchOptions) => embConv1dBatch(model as TestEmbConv1d, opts),
  },
} satisfies Record<string, TestModelSpec>;

export type TestModelName = keyof typeof TEST_MODELS;
