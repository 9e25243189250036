import { describe, expect, it } from 'vitest';
import { PeftModel, PeftRegistry, Rng } from '@peftjs/core';
import { tinyLlama } from '@peftjs/testing/fixtures';
import { parsePromptTuningConfig, promptTuning, promptTuningConfigToJSON } from '../src/index.js';

describe('Prompt Tuning config', () => {
  it("fills PEFT 0.10's defaults", () => {
    const c = parsePromptTuningConfig({ num_virtual_tokens: 5 });
    expect(c).toMatchObject({
      peft_type: 'PROMPT_TUNING',
      prompt_tuning_init: 'RANDOM',
      prompt_tuning_init_text: null,
      tokenizer_name_or_path: null,
      tokenizer_kwargs: null,
      token_dim: null,
      num_layers: null,
      num_attention_heads: null,
      num_transformer_submodules: null,
      inference_mode: false,
      auto_mapping: null,
    });
  });

  it('rejects a missing or non-positive num_virtual_tokens, naming the field', () => {
    expect(() => parsePromptTuningConfig({})).toThrow(/num_virtual_tokens must be a positive integer/);
    expect(() => parsePromptTuningConfig({ num_virtual_tokens: 0 })).toThrow(/num_virtual_tokens/);
  });

  it('refuses TEXT init without tokenizer_name_or_path or init text, as PEFT does', () => {
    expect(() => parsePromptTuningConfig({ num_virtual_tokens: 2, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'hi' })).toThrow(
      /tokenizer_name_or_path/,
    );
    expect(() => parsePromptTuningConfig({ num_virtual_tokens: 2, prompt_tuning_init: 'TEXT', tokenizer_name_or_path: 't' })).toThrow(
      /prompt_tuning_init_text/,
    );
  });

  it('refuses tokenizer_kwargs unless the init is TEXT', () => {
    expect(() => parsePromptTuningConfig({ num_virtual_tokens: 2, tokenizer_kwargs: { a: 1 } })).toThrow(/tokenizer_kwargs/);
  });

  it('refuses an unknown init, naming the field', () => {
    expect(() => parsePromptTuningConfig({ num_virtual_tokens: 2, prompt_tuning_init: 'ZEROS' })).toThrow(/prompt_tuning_init must be/);
  });

  it('refuses an encoder-decoder num_transformer_submodules', () => {
    expect(() => parsePromptTuningConfig({ num_virtual_tokens: 2, num_transformer_submodules: 2 })).toThrow(
      /num_transformer_submodules must be 1/,
    );
  });

  it('never writes the runtime-only tokenizer or token ids', () => {
    const c = parsePromptTuningConfig({
      num_virtual_tokens: 2,
      prompt_tuning_init: 'TEXT',
      prompt_tuning_init_text: 'hi',
      tokenizer_name_or_path: 'tok',
      tokenizer: { encode: () => [1] },
      prompt_tuning_init_token_ids: [1],
    });
    const json = promptTuningConfigToJSON(c);
    expect(json).not.toHaveProperty('tokenizer');
    expect(json).not.toHaveProperty('prompt_tuning_init_token_ids');
    expect(json.tokenizer_name_or_path).toBe('tok');
  });

  it("fills token_dim, num_layers and num_attention_heads from the model at injection, as PEFT's _prepare_prompt_learning_config", () => {
    const peft = new PeftModel(tinyLlama(), { registry: new PeftRegistry().use(promptTuning), rng: new Rng(1) });
    peft.addAdapter('default', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 3 });
    expect(peft.config()).toMatchObject({ token_dim: 16, num_layers: 2, num_attention_heads: 4, num_transformer_submodules: 1 });
    peft.dispose();
  });

  it('refuses a token_dim other than the hidden size, naming the field and the model', () => {
    const peft = new PeftModel(tinyLlama(), { registry: new PeftRegistry().use(promptTuning) });
    expect(() => peft.addAdapter('default', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 3, token_dim: 8 })).toThrow(
      'Prompt Tuning token_dim must be the hidden size of model llama (16), got 8',
    );
  });
});
