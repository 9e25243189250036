// The kit's tiny LLaMA config, in a module of its own: the recomputation models use it without
// loading fixtures.ts (file I/O, the fixture helpers).

/** A small GQA LLaMA (2 layers, 4 heads, 2 KV heads). */
export const TINY_LLAMA_CONFIG = {
  model_type: 'llama',
  vocab_size: 64,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  initializer_range: 0.2,
};
