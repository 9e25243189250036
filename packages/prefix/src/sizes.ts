import type { ModelDims, PromptLearningFields } from '@peftjs/core';

type Fail = (field: string, msg: string) => never;

/**
 * Fills null sizes from the model and checks given ones against it. The prefix holds keys and
 * values, so with grouped-query attention it is sized by the key/value heads, as newer PEFT's
 * `_prepare_prompt_learning_config` does (token_dim ← token_dim / heads · kv_heads,
 * num_attention_heads ← kv_heads; a no-op on sizes already given that way). PEFT 0.10 sized it by
 * the query heads and failed inside the model.
 */
export function fillPrefixSizes(c: PromptLearningFields, dims: ModelDims, fail: Fail): void {
  c.num_layers ??= dims.numLayers;
  c.num_attention_heads ??= dims.numHeads;
  c.token_dim ??= dims.hiddenSize;
  c.num_transformer_submodules ??= 1;
  if (c.token_dim % c.num_attention_heads !== 0) fail('token_dim', `(${c.token_dim}) must be a multiple of num_attention_heads (${c.num_attention_heads})`);
  if (dims.numKvHeads !== dims.numHeads) {
    c.token_dim = (c.token_dim / c.num_attention_heads) * dims.numKvHeads;
    c.num_attention_heads = dims.numKvHeads;
  }
  const what = `model ${dims.modelType}`;
  if (c.num_layers !== dims.numLayers) fail('num_layers', `must be the number of layers of ${what} (${dims.numLayers}), got ${c.num_layers}`);
  if (c.num_attention_heads !== dims.numKvHeads) {
    fail('num_attention_heads', `must be the number of key/value heads of ${what} (${dims.numKvHeads}), got ${c.num_attention_heads}`);
  }
  if (c.token_dim / c.num_attention_heads !== dims.headDim) {
    fail('token_dim', `/ num_attention_heads must be the head size of ${what} (${dims.headDim}), got ${c.token_dim} / ${c.num_attention_heads}`);
  }
}
