import { describe, expect, it } from 'vitest';
import { PeftModel, PeftRegistry } from '@peftjs/core';
import { tinyLlama } from '@peftjs/testing/fixtures';
import { parsePTuningConfig, pTuning, pTuningV2Config, promptEncoderOf } from '../src/index.js';

describe('P-Tuning config', () => {
  it("fills PEFT 0.10's defaults", () => {
    expect(parsePTuningConfig({ num_virtual_tokens: 5 })).toMatchObject({
      peft_type: 'P_TUNING',
      encoder_reparameterization_type: 'MLP',
      encoder_hidden_size: null,
      encoder_num_layers: 2,
      encoder_dropout: 0,
      token_dim: null,
      inference_mode: false,
    });
  });

  it('refuses an unknown encoder type and a dropout outside [0, 1), naming the field', () => {
    expect(() => parsePTuningConfig({ num_virtual_tokens: 5, encoder_reparameterization_type: 'GRU' })).toThrow(
      'P-Tuning encoder_reparameterization_type must be "MLP" or "LSTM", got "GRU"',
    );
    expect(() => parsePTuningConfig({ num_virtual_tokens: 5, encoder_dropout: 1 })).toThrow(
      'P-Tuning encoder_dropout must be a number in [0, 1), got 1',
    );
  });

  it('fills encoder_hidden_size with token_dim at injection, as PEFT does', () => {
    const peft = new PeftModel(tinyLlama(), { registry: new PeftRegistry().use(pTuning) });
    peft.addAdapter('default', { peft_type: 'P_TUNING', num_virtual_tokens: 3 });
    expect(peft.config()).toMatchObject({ token_dim: 16, encoder_hidden_size: 16, num_layers: 2, num_attention_heads: 4 });
    peft.dispose();
  });

  it("names PEFT's parameters: mlp_head.{0,2,4} for MLP; lstm_head (both directions, every layer) and mlp_head.{0,2} for LSTM", () => {
    const peft = new PeftModel(tinyLlama(), { registry: new PeftRegistry().use(pTuning) });
    peft.addAdapter('mlp', { peft_type: 'P_TUNING', num_virtual_tokens: 3, encoder_hidden_size: 6 });
    peft.addAdapter('lstm', {
      peft_type: 'P_TUNING',
      num_virtual_tokens: 3,
      encoder_hidden_size: 6,
      encoder_reparameterization_type: 'LSTM',
      encoder_num_layers: 2,
    });
    const shapes = (name: string) =>
      Object.fromEntries(
        promptEncoderOf(peft.adapter(name))
          .params.namedParameters()
          .map(([n, v]) => [n, v.shape]),
      );
    expect(shapes('mlp')).toEqual({
      'embedding.weight': [3, 16],
      'mlp_head.0.weight': [6, 16],
      'mlp_head.0.bias': [6],
      'mlp_head.2.weight': [6, 6],
      'mlp_head.2.bias': [6],
      'mlp_head.4.weight': [16, 6],
      'mlp_head.4.bias': [16],
    });
    const lstm = shapes('lstm');
    expect(lstm['lstm_head.weight_ih_l0']).toEqual([24, 16]);
    expect(lstm['lstm_head.weight_ih_l1_reverse']).toEqual([24, 12]);
    expect(lstm['lstm_head.weight_hh_l1']).toEqual([24, 6]);
    expect(lstm['mlp_head.0.weight']).toEqual([12, 12]);
    expect(lstm['mlp_head.2.weight']).toEqual([16, 12]);
    expect(Object.keys(lstm)).toHaveLength(1 + 2 * 2 * 4 + 4);
    peft.dispose();
  });
});

describe('P-Tuning v2 config', () => {
  it('is a PREFIX_TUNING config (what PEFT saves v2 as), without reparameterisation by default', () => {
    expect(pTuningV2Config({ numVirtualTokens: 8 })).toEqual({
      peft_type: 'PREFIX_TUNING',
      task_type: 'SEQ_CLS',
      num_virtual_tokens: 8,
      prefix_projection: false,
      encoder_hidden_size: null,
    });
  });

  it('reparameterises with an MLP on request, as the paper ablates', () => {
    expect(pTuningV2Config({ numVirtualTokens: 8, taskType: 'TOKEN_CLS', reparameterize: true, encoderHiddenSize: 64 })).toMatchObject({
      task_type: 'TOKEN_CLS',
      prefix_projection: true,
      encoder_hidden_size: 64,
    });
  });

  it('refuses a non-positive prompt length', () => {
    expect(() => pTuningV2Config({ numVirtualTokens: 0 })).toThrow('P-Tuning v2 numVirtualTokens must be a positive integer, got 0');
  });
});
