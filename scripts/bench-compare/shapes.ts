// The LLaMA shapes both bench scripts build (torch_llama.py mirrors them), and their argument reader.
import { Rng } from '@peftjs/core';
import { modelFromConfig } from '@peftjs/models';

export const SHAPES = {
  ref: { vocab: 512, hidden: 256, layers: 4, heads: 4, kvHeads: 4, ffn: 1024, batch: 8, seq: 64, tied: false },
  smol: { vocab: 49152, hidden: 576, layers: 30, heads: 9, kvHeads: 3, ffn: 1536, batch: 1, seq: 128, tied: true },
};

export type Shape = (typeof SHAPES)['ref'];

/** `--name value` from the command line, or the fallback. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
}

/** A random-weight LLaMA of the shape (RMSNorm, RoPE, SwiGLU, no biases). */
export function buildLlama(s: Shape) {
  return modelFromConfig(
    {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      vocab_size: s.vocab,
      hidden_size: s.hidden,
      intermediate_size: s.ffn,
      num_hidden_layers: s.layers,
      num_attention_heads: s.heads,
      num_key_value_heads: s.kvHeads,
      max_position_embeddings: 2048,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: s.tied,
    },
    { rng: new Rng(1) },
  );
}
