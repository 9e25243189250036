import { describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDataset, collateExamples, encodeRecords, loadJsonlDataset, parseJsonl } from '../src/index.js';
import { charTokenizer as tok } from './helpers.js';

const jsonl = (...rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');
const enc = (text: string, opts = {}) => encodeRecords(parseJsonl(text, 'data.jsonl'), tok, opts);

describe('JSONL formats', () => {
  it('{"text"} trains a causal LM on every token and appends EOS', () => {
    const { examples, format } = enc(jsonl({ text: 'ab' }));
    expect(format).toBe('text');
    expect(examples[0]).toEqual({ inputIds: [3, 4, 2], labels: [3, 4, 2] });
  });

  it('{"prompt","completion"} labels the prompt -100 so the loss is on the completion only', () => {
    const { examples, format } = enc(jsonl({ prompt: 'ab', completion: 'c' }));
    expect(format).toBe('prompt-completion');
    expect(examples[0]).toEqual({ inputIds: [3, 4, 5, 2], labels: [-100, -100, 5, 2] });
  });

  it('{"messages"} goes through the tokenizer chat template', () => {
    const { examples, format } = enc(jsonl({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(format).toBe('messages');
    expect(tok.decode(examples[0].inputIds)).toBe('user: hi');
    expect(examples[0].labels).toEqual(examples[0].inputIds);
  });

  it('{"text","label"} maps string labels to sorted ids and keeps integer labels', () => {
    const s = enc(jsonl({ text: 'a', label: 'pos' }, { text: 'b', label: 'neg' }));
    expect(s.format).toBe('classification');
    expect(s.labelMap).toEqual({ neg: 0, pos: 1 });
    expect(s.examples.map((e) => e.labels)).toEqual([1, 0]);
    expect(enc(jsonl({ text: 'a', label: 3 })).examples[0].labels).toBe(3);
    expect(enc(jsonl({ text: 'a', label: 'x' }), { labelMap: { x: 5 } }).examples[0].labels).toBe(5);
  });
});

describe('malformed lines', () => {
  it('bad JSON is an error naming the file and line number', () => {
    expect(() => enc(jsonl({ text: 'a' }, '', '{"text": ')).examples).toThrow(/^data\.jsonl:3: invalid JSON/);
  });

  it('a missing field names the file, line and field', () => {
    expect(() => enc(jsonl({ prompt: 'a', completion: 'b' }, { prompt: 'c' }))).toThrow('data.jsonl:2: missing field "completion"');
  });

  it('a field of the wrong type names the file, line, field and type', () => {
    expect(() => enc(jsonl({ text: 'a' }, { text: 5 }))).toThrow('data.jsonl:2: "text" must be a string, got number');
    expect(() => enc(jsonl({ text: 'a', label: [1] }))).toThrow('data.jsonl:1: "label" must be a string or an integer, got array');
    expect(() => enc(jsonl({ messages: [{ role: 'user' }] }))).toThrow(
      'data.jsonl:1: messages[0] must be {"role": string, "content": string}',
    );
  });

  it('a record of another format in the file is an error naming the line', () => {
    expect(() => enc(jsonl({ text: 'a' }, { prompt: 'b', completion: 'c' }))).toThrow(
      'data.jsonl:2: a "prompt-completion" record in a "text" file',
    );
  });

  it('a line with none of the known fields lists its keys', () => {
    expect(() => enc(jsonl({ txt: 'a' }))).toThrow(
      'data.jsonl:1: no "text", "prompt"/"completion", "messages" or "text"/"label" field (keys: txt)',
    );
  });
});

describe('truncation, shuffling and splits', () => {
  it('truncates to maxLength and warns once with the count', () => {
    const warn = vi.fn();
    const d = buildDataset({ text: jsonl({ text: 'abcdef' }, { text: 'ab' }, { text: 'abcdefgh' }), file: 't.jsonl' }, tok, {
      maxLength: 4,
      warn,
      shuffle: false,
    });
    expect(d.truncated).toBe(2);
    expect(d.train.map((e) => e.inputIds.length)).toEqual([4, 3, 4]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/^2 of 3 examples were longer than maxLength 4 tokens/);
  });

  it('shuffles with the seed: the same seed gives the same order, another seed another', () => {
    const text = jsonl(...Array.from({ length: 20 }, (_, i) => ({ text: 'abcdefghijklmnopqrst'[i] })));
    const order = (seed: number) => buildDataset({ text, file: 't' }, tok, { seed }).train.map((e) => e.inputIds[0]);
    expect(order(1)).toEqual(order(1));
    expect(order(1)).not.toEqual(order(2));
    expect([...order(1)].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 3 + i));
  });

  it('holds out a validation fraction, disjoint from the training examples', () => {
    const text = jsonl(...Array.from({ length: 10 }, (_, i) => ({ text: 'abcdefghij'[i] })));
    const d = buildDataset({ text, file: 't' }, tok, { validation: 0.2, seed: 3 });
    expect(d.train).toHaveLength(8);
    expect(d.validation).toHaveLength(2);
    const train = new Set(d.train.map((e) => e.inputIds[0]));
    for (const v of d.validation) expect(train.has(v.inputIds[0])).toBe(false);
  });

  it('accepts a UTF-8 byte-order mark at the start of the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peftjs-data-'));
    await writeFile(
      join(dir, 'bom.jsonl'),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(jsonl({ text: 'ab' }, { text: 'cd' }))]),
    );
    const d = await loadJsonlDataset(join(dir, 'bom.jsonl'), tok, { shuffle: false, validation: 0 });
    expect(d.train.map((e) => e.inputIds.slice(0, 2))).toEqual([
      enc(jsonl({ text: 'ab' })).examples[0].inputIds.slice(0, 2),
      enc(jsonl({ text: 'cd' })).examples[0].inputIds.slice(0, 2),
    ]);
  });

  it('refuses invalid UTF-8, naming the file and the line (no silent U+FFFD)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peftjs-data-'));
    const bad = Buffer.concat([
      Buffer.from(`${jsonl({ text: 'ab' })}\n`),
      Buffer.from('{"text": "caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}\n'),
    ]);
    await writeFile(join(dir, 'latin1.jsonl'), bad);
    await expect(loadJsonlDataset(join(dir, 'latin1.jsonl'), tok)).rejects.toThrow(`${join(dir, 'latin1.jsonl')}:2: invalid UTF-8`);
  });

  it('reads a separate validation file, with errors naming that file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peftjs-data-'));
    await writeFile(join(dir, 'train.jsonl'), jsonl({ text: 'ab', label: 'x' }, { text: 'cd', label: 'y' }));
    await writeFile(join(dir, 'val.jsonl'), jsonl({ text: 'ef', label: 'y' }));
    const d = await loadJsonlDataset(join(dir, 'train.jsonl'), tok, { validation: join(dir, 'val.jsonl') });
    expect(d.validation).toEqual([{ inputIds: [7, 8], labels: 1 }]);
    await writeFile(join(dir, 'bad.jsonl'), jsonl({ text: 'ef', label: 'y' }, '{oops'));
    await expect(loadJsonlDataset(join(dir, 'train.jsonl'), tok, { validation: join(dir, 'bad.jsonl') })).rejects.toThrow(
      `${join(dir, 'bad.jsonl')}:2: invalid JSON`,
    );
  });
});

describe('collation', () => {
  it('pads on the right: pad id in inputs, 0 in the attention mask, -100 in labels', () => {
    const b = collateExamples(
      [
        { inputIds: [5, 6, 7], labels: [5, 6, 7] },
        { inputIds: [8], labels: [-100] },
      ],
      0,
    );
    expect(b.inputIds.arraySync()).toEqual([
      [5, 6, 7],
      [8, 0, 0],
    ]);
    expect(b.attentionMask!.arraySync()).toEqual([
      [1, 1, 1],
      [1, 0, 0],
    ]);
    expect(b.labels!.arraySync()).toEqual([
      [5, 6, 7],
      [-100, -100, -100],
    ]);
    tf.dispose([b.inputIds, b.attentionMask!, b.labels!]);
  });

  it('stacks class labels into a [B] int32 tensor', () => {
    const b = collateExamples([
      { inputIds: [5], labels: 1 },
      { inputIds: [6, 7], labels: 0 },
    ]);
    expect(b.labels!.shape).toEqual([2]);
    expect(b.labels!.dtype).toBe('int32');
    expect(b.labels!.arraySync()).toEqual([1, 0]);
    tf.dispose([b.inputIds, b.attentionMask!, b.labels!]);
  });
});
