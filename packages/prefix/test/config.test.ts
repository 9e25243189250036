import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry } from '@peftjs/core';
import { TINY_LLAMA_CONFIG, tinyLlama } from '@peftjs/testing/fixtures';
import { parsePrefixTuningConfig, prefixEncoderOf, prefixTuning, prefixTuningConfigToJSON } from '../src/index.js';

const registry = new PeftRegistry().use(prefixTuning);

describe('Prefix Tuning config', () => {
  it("fills PEFT's defaults", () => {
    expect(parsePrefixTuningConfig({ num_virtual_tokens: 5 })).toMatchObject({
      peft_type: 'PREFIX_TUNING',
      prefix_projection: false,
      encoder_hidden_size: null,
      init_weights: null,
      token_dim: null,
      num_layers: null,
      num_attention_heads: null,
      inference_mode: false,
    });
  });

  it('refuses a non-boolean prefix_projection and an unknown init_weights, naming the field', () => {
    expect(() => parsePrefixTuningConfig({ num_virtual_tokens: 5, prefix_projection: 'yes' })).toThrow(
      'Prefix Tuning prefix_projection must be true or false',
    );
    expect(() => parsePrefixTuningConfig({ num_virtual_tokens: 5, init_weights: 'ones' })).toThrow(
      'Prefix Tuning init_weights must be null or "zero"',
    );
  });

  it('writes init_weights only when set, so that PEFT 0.10 reads the config', () => {
    expect(prefixTuningConfigToJSON(parsePrefixTuningConfig({ num_virtual_tokens: 5 }))).not.toHaveProperty('init_weights');
    expect(prefixTuningConfigToJSON(parsePrefixTuningConfig({ num_virtual_tokens: 5, init_weights: 'zero' })).init_weights).toBe('zero');
  });

  it('sizes the prefix of a grouped-query model by its key/value heads, as newer PEFT does', () => {
    const peft = new PeftModel(tinyLlama(), { registry });
    peft.addAdapter('default', { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 3 });
    // 4 query heads, 2 kv heads of 4: token_dim 16 → 8, num_attention_heads 4 → 2
    expect(peft.config()).toMatchObject({ token_dim: 8, num_attention_heads: 2, num_layers: 2, encoder_hidden_size: 8 });
    expect(prefixEncoderOf(peft.adapter('default')).embedding.shape).toEqual([3, 2 * 2 * 8]);
    peft.dispose();
  });

  it("keeps a multi-head model's sizes", () => {
    const peft = new PeftModel(tinyLlama(0, { ...TINY_LLAMA_CONFIG, num_key_value_heads: 4 }), { registry });
    peft.addAdapter('default', { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 3 });
    expect(peft.config()).toMatchObject({ token_dim: 16, num_attention_heads: 4 });
    peft.dispose();
  });

  it('refuses a num_layers other than the model has, naming the field and the model', () => {
    const peft = new PeftModel(tinyLlama(), { registry });
    expect(() => peft.addAdapter('default', { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 3, num_layers: 3 })).toThrow(
      'Prefix Tuning num_layers must be the number of layers of model llama (2), got 3',
    );
  });

  it('init_weights "zero" starts from a prefix of zeros, or a zero last projection layer', () => {
    const peft = new PeftModel(tinyLlama(), { registry });
    peft.addAdapter('plain', { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 3, init_weights: 'zero' });
    peft.addAdapter('proj', { peft_type: 'PREFIX_TUNING', num_virtual_tokens: 3, init_weights: 'zero', prefix_projection: true });
    for (const name of ['plain', 'proj']) {
      const encoder = prefixEncoderOf(peft.adapter(name));
      expect(tf.tidy(() => tf.max(tf.abs(encoder.output())).dataSync()[0])).toBe(0);
    }
    peft.dispose();
  });
});
