import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTokenizer, PretrainedTokenizer } from '../src/index.js';

const TINY = fileURLToPath(new URL('./data/tiny-tokenizer', import.meta.url));
const BUNDLED = fileURLToPath(new URL('../assets/peftjs-tiny-llama', import.meta.url));

describe('loadTokenizer (tokenizer.json + tokenizer_config.json)', () => {
  it('encodes with the bos the post-processor adds and decodes back', async () => {
    const tok = await loadTokenizer(TINY);
    const ids = tok.encode('hello world');
    expect(ids).toEqual([1, 264, 269]);
    expect(tok.encode('hello world', { addSpecialTokens: false })).toEqual([264, 269]);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('hello world');
    expect(tok.decode(ids)).toBe('<s>hello world');
  });

  it('reads special tokens given as strings or AddedToken objects', async () => {
    const tok = await loadTokenizer(TINY);
    expect([tok.bosToken, tok.bosTokenId, tok.eosToken, tok.eosTokenId, tok.unkTokenId, tok.padTokenId]).toEqual([
      '<s>',
      1,
      '</s>',
      2,
      0,
      undefined,
    ]);
    expect(tok.tokenToId('<|user|>')).toBe(3);
  });

  it('pads a batch with eos when there is no pad token, on either side', async () => {
    const tok = await loadTokenizer(TINY);
    const right = tok.encodeBatch(['hello', 'hello world']);
    expect(right).toEqual({
      inputIds: [
        [1, 264, 2],
        [1, 264, 269],
      ],
      attentionMask: [
        [1, 1, 0],
        [1, 1, 1],
      ],
    });
    const left = tok.encodeBatch(['hello', 'hello world'], { paddingSide: 'left' });
    expect(left.inputIds[0]).toEqual([2, 1, 264]);
    expect(left.attentionMask[0]).toEqual([0, 1, 1]);
  });

  it('renders the chat template with messages, special tokens and the generation prompt', async () => {
    const tok = await loadTokenizer(TINY);
    const messages = [{ role: 'user', content: 'hello' }];
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe('<s><|user|>\nhello</s>\n<|assistant|>\n');
    expect(tok.applyChatTemplate(messages)).toBe('<s><|user|>\nhello</s>\n');
    // special tokens written by the template stay single tokens; no second bos is added
    expect(tok.encodeChat(messages, { addGenerationPrompt: true })).toEqual([1, 3, 15, 264, 2, 15, 4, 15]);
  });

  it('fails clearly without a chat template or with a special token outside the vocabulary', async () => {
    const tok = await loadTokenizer(TINY);
    const bare = new PretrainedTokenizer(tok.tokenizerJson, { bos_token: '<s>' });
    expect(() => bare.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(/no chat_template/);
    expect(() => new PretrainedTokenizer(tok.tokenizerJson, { eos_token: '<eos>' })).toThrow(/eos_token "<eos>" is not in the vocabulary/);
    await expect(loadTokenizer('/nonexistent-dir')).rejects.toThrow(/no tokenizer\.json/);
  });

  it.skipIf(!existsSync(`${BUNDLED}/tokenizer.json`))('loads the bundled peftjs-tiny-llama tokenizer and round-trips text', async () => {
    const tok = await loadTokenizer(BUNDLED);
    const ids = tok.encode('Hello world', { addSpecialTokens: false });
    expect(ids.length).toBeGreaterThan(0);
    expect(tok.decode(ids).trim()).toBe('Hello world');
  });
});
