import * as tf from '@tensorflow/tfjs-core';
import { Rng, type TokenBatch } from '@peftjs/core';

/** One turn of a chat. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** What the Trainer's data needs from a tokenizer (the models package's tokenizer satisfies it). */
export interface Tokenizer {
  /** With special tokens (a BOS, say) unless `addSpecialTokens` is false. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[]): string;
  eosTokenId?: number;
  bosTokenId?: number;
  padTokenId?: number;
  applyChatTemplate?(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
}

/**
 * The four JSONL layouts: `{"text"}` (causal LM on every token), `{"prompt","completion"}` (loss
 * on the completion only), `{"messages"}` (chat template, every token), `{"text","label"}`
 * (sequence classification).
 */
export type DataFormat = 'text' | 'prompt-completion' | 'messages' | 'classification';

/** A tokenized example: token labels ([T], -100 = ignored) or one class id. */
export interface EncodedExample {
  inputIds: number[];
  labels: number[] | number;
}

/** A parsed JSONL line and where it came from. */
export interface JsonlRecord {
  file: string;
  line: number;
  value: Record<string, unknown>;
}

/** Parses JSONL (blank lines skipped); a bad line is an error naming the file and line number. */
export function parseJsonl(text: string, file: string): JsonlRecord[] {
  const out: JsonlRecord[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/); // a UTF-8 byte-order mark may open the file
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: invalid JSON: ${(e as Error).message}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}:${i + 1}: expected a JSON object`);
    out.push({ file, line: i + 1, value: value as Record<string, unknown> });
  });
  return out;
}

/** The format of one record, from its fields. */
export function detectFormat(rec: JsonlRecord): DataFormat {
  const v = rec.value;
  if ('messages' in v) return 'messages';
  if ('prompt' in v || 'completion' in v) return 'prompt-completion';
  if ('label' in v) return 'classification';
  if ('text' in v) return 'text';
  throw new Error(
    `${where(rec)}: no "text", "prompt"/"completion", "messages" or "text"/"label" field (keys: ${Object.keys(v).join(', ') || 'none'})`,
  );
}

export interface EncodeOptions {
  /** Longest sequence kept, in tokens; longer ones are cut (and counted). */
  maxLength?: number;
  /** Append the tokenizer's EOS to causal-LM examples. Default true when it has one. */
  addEos?: boolean;
  /** Classification: label string → id. Default: the sorted distinct string labels. */
  labelMap?: Record<string, number>;
  /** Expected format; default: the first record's. Every record must have it. */
  format?: DataFormat;
}

export interface EncodedData {
  examples: EncodedExample[];
  format: DataFormat;
  /** Examples cut to `maxLength`. */
  truncated: number;
  /** Classification with string labels. */
  labelMap?: Record<string, number>;
}

/** Tokenizes records of one format. Errors name the file and line. */
export function encodeRecords(records: readonly JsonlRecord[], tokenizer: Tokenizer, opts: EncodeOptions = {}): EncodedData {
  if (records.length === 0) return { examples: [], format: opts.format ?? 'text', truncated: 0, labelMap: opts.labelMap };
  const format = opts.format ?? detectFormat(records[0]);
  const max = opts.maxLength;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new Error(`maxLength must be a positive integer, got ${max}`);
  const eos = (opts.addEos ?? true) && tokenizer.eosTokenId !== undefined ? [tokenizer.eosTokenId] : [];
  let labelMap = opts.labelMap;
  if (format === 'classification' && !labelMap) labelMap = buildLabelMap(records);
  let truncated = 0;
  const cut = (ids: number[], labels: number[]): [number[], number[]] => {
    if (max === undefined || ids.length <= max) return [ids, labels];
    truncated++;
    return [ids.slice(0, max), labels.slice(0, max)];
  };
  const examples = records.map((rec): EncodedExample => {
    const f = detectFormat(rec);
    if (f !== format) throw new Error(`${where(rec)}: a "${f}" record in a "${format}" file`);
    const v = rec.value;
    if (format === 'text') {
      const ids = [...tokenizer.encode(str(rec, 'text')), ...eos];
      const [i, l] = cut(ids, [...ids]);
      return { inputIds: i, labels: l };
    }
    if (format === 'prompt-completion') {
      const p = tokenizer.encode(str(rec, 'prompt'));
      // the completion continues the prompt: no second BOS in the middle
      const c = [...tokenizer.encode(str(rec, 'completion'), { addSpecialTokens: false }), ...eos];
      const [i, l] = cut([...p, ...c], [...p.map(() => -100), ...c]);
      return { inputIds: i, labels: l };
    }
    if (format === 'messages') {
      if (!tokenizer.applyChatTemplate)
        throw new Error(`${where(rec)}: "messages" need a tokenizer with a chat template (applyChatTemplate)`);
      // the template writes its own special tokens (bos_token)
      const ids = tokenizer.encode(tokenizer.applyChatTemplate(messages(rec), { addGenerationPrompt: false }), { addSpecialTokens: false });
      const [i, l] = cut(ids, [...ids]);
      return { inputIds: i, labels: l };
    }
    const ids = tokenizer.encode(str(rec, 'text'));
    const [i] = cut(ids, ids);
    return { inputIds: i, labels: classId(rec, v.label, labelMap!) };
  });
  return { examples, format, truncated, labelMap };
}

function buildLabelMap(records: readonly JsonlRecord[]): Record<string, number> | undefined {
  const names = new Set<string>();
  for (const r of records) if (typeof r.value.label === 'string') names.add(r.value.label);
  if (names.size === 0) return undefined;
  return Object.fromEntries([...names].sort().map((n, i) => [n, i]));
}

function classId(rec: JsonlRecord, label: unknown, map: Record<string, number> | undefined): number {
  if (typeof label === 'number') {
    if (!Number.isInteger(label) || label < 0)
      throw new Error(`${where(rec)}: "label" must be a non-negative integer or a string, got ${label}`);
    return label;
  }
  if (typeof label !== 'string') throw new Error(`${where(rec)}: "label" must be a string or an integer, got ${typeName(label)}`);
  const id = map?.[label];
  if (id === undefined) throw new Error(`${where(rec)}: label "${label}" is not in the label map (${Object.keys(map ?? {}).join(', ')})`);
  return id;
}

function str(rec: JsonlRecord, field: string): string {
  const x = rec.value[field];
  if (x === undefined) throw new Error(`${where(rec)}: missing field "${field}"`);
  if (typeof x !== 'string') throw new Error(`${where(rec)}: "${field}" must be a string, got ${typeName(x)}`);
  return x;
}

function messages(rec: JsonlRecord): ChatMessage[] {
  const m = rec.value.messages;
  if (!Array.isArray(m)) throw new Error(`${where(rec)}: "messages" must be an array, got ${typeName(m)}`);
  return m.map((x, i) => {
    const ok =
      x !== null && typeof x === 'object' && typeof (x as ChatMessage).role === 'string' && typeof (x as ChatMessage).content === 'string';
    if (!ok) throw new Error(`${where(rec)}: messages[${i}] must be {"role": string, "content": string}`);
    return { role: (x as ChatMessage).role, content: (x as ChatMessage).content };
  });
}

function where(rec: JsonlRecord): string {
  return `${rec.file}:${rec.line}`;
}

function typeName(x: unknown): string {
  return x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x;
}

export interface DatasetOptions extends EncodeOptions {
  /** A fraction of the training file (0–1) held out for validation, or the path of a separate file. */
  validation?: number | string;
  /** Seed of the split's shuffle. Default 42. */
  seed?: number;
  /** Shuffle the training examples (with the seed). Default true. */
  shuffle?: boolean;
  /** Called once when examples were truncated. Default console.warn. */
  warn?: (message: string) => void;
}

export interface Dataset {
  train: EncodedExample[];
  validation: EncodedExample[];
  format: DataFormat;
  labelMap?: Record<string, number>;
  /** Examples cut to maxLength, over both splits. */
  truncated: number;
}

/** Builds a dataset from JSONL text (and an optional validation text): tokenized, shuffled, split. */
export function buildDataset(
  train: { text: string; file: string },
  tokenizer: Tokenizer,
  opts: DatasetOptions & { validationText?: { text: string; file: string } } = {},
): Dataset {
  const trainRecs = parseJsonl(train.text, train.file);
  if (trainRecs.length === 0) throw new Error(`${train.file}: no examples`);
  const valRecs = opts.validationText ? parseJsonl(opts.validationText.text, opts.validationText.file) : [];
  const format = opts.format ?? detectFormat(trainRecs[0]);
  const labelMap = format === 'classification' ? (opts.labelMap ?? buildLabelMap([...trainRecs, ...valRecs])) : undefined;
  const a = encodeRecords(trainRecs, tokenizer, { ...opts, format, labelMap });
  const b = encodeRecords(valRecs, tokenizer, { ...opts, format, labelMap });
  let examples = a.examples;
  if (opts.shuffle ?? true) examples = new Rng(opts.seed ?? 42).shuffle([...examples]);
  let validation = b.examples;
  if (typeof opts.validation === 'number') {
    const f = opts.validation;
    if (!(f >= 0 && f < 1)) throw new Error(`validation fraction must be in [0, 1), got ${f}`);
    const n = f > 0 ? Math.max(1, Math.round(examples.length * f)) : 0;
    if (n >= examples.length)
      throw new Error(`${train.file}: validation fraction ${f} leaves no training examples (${examples.length} in all)`);
    validation = examples.slice(examples.length - n);
    examples = examples.slice(0, examples.length - n);
  }
  const truncated = a.truncated + b.truncated;
  if (truncated > 0) {
    (opts.warn ?? console.warn)(
      `${truncated} of ${a.examples.length + b.examples.length} examples were longer than maxLength ${opts.maxLength} tokens and were truncated`,
    );
  }
  return { train: examples, validation, format, labelMap, truncated };
}

/** Strict UTF-8 (no silent U+FFFD): invalid bytes are an error naming the file and the line. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(start, i));
      } catch {
        throw new Error(`${file}:${line}: invalid UTF-8 (the file must be UTF-8 text)`);
      }
      line++;
      start = i + 1;
    }
    throw new Error(`${file}: invalid UTF-8 (the file must be UTF-8 text)`);
  }
}

/** Reads a JSONL file (and the validation file when `validation` is a path) into a dataset. */
export async function loadJsonlDataset(path: string, tokenizer: Tokenizer, opts: DatasetOptions = {}): Promise<Dataset> {
  const fs = await import('node:fs/promises');
  const read = async (p: string) => {
    try {
      return decodeUtf8(await fs.readFile(p), p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === undefined) throw e;
      throw new Error(`${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
    }
  };
  const validationText = typeof opts.validation === 'string' ? { text: await read(opts.validation), file: opts.validation } : undefined;
  return buildDataset({ text: await read(path), file: path }, tokenizer, { ...opts, validationText });
}

/**
 * Pads examples on the right to the longest: input ids with `padTokenId`, attention mask 0,
 * token labels -100. inputIds, attentionMask, token labels: [B, T] int32; class labels: [B] int32.
 */
export function collateExamples(examples: readonly EncodedExample[], padTokenId = 0): TokenBatch {
  if (examples.length === 0) throw new Error('collateExamples: no examples');
  const B = examples.length;
  const T = Math.max(1, ...examples.map((e) => e.inputIds.length));
  const ids = new Int32Array(B * T).fill(padTokenId);
  const mask = new Int32Array(B * T);
  const classes = typeof examples[0].labels === 'number';
  const labels = classes ? new Int32Array(B) : new Int32Array(B * T).fill(-100);
  examples.forEach((e, b) => {
    e.inputIds.forEach((id, t) => {
      ids[b * T + t] = id;
      mask[b * T + t] = 1;
    });
    if (typeof e.labels === 'number') {
      if (!classes) throw new Error('collateExamples: class labels and token labels in one batch');
      labels[b] = e.labels;
    } else {
      if (classes) throw new Error('collateExamples: class labels and token labels in one batch');
      e.labels.forEach((l, t) => (labels[b * T + t] = l));
    }
  });
  return {
    inputIds: tf.tensor2d(ids, [B, T], 'int32'),
    attentionMask: tf.tensor2d(mask, [B, T], 'int32'),
    labels: classes ? tf.tensor1d(labels, 'int32') : tf.tensor2d(labels, [B, T], 'int32'),
  };
}

/** Tokens in a list of examples (non-padding positions). */
export function countTokens(examples: readonly unknown[]): number {
  let n = 0;
  for (const e of examples) {
    const ids = (e as Partial<EncodedExample>).inputIds;
    if (Array.isArray(ids)) n += ids.length;
  }
  return n;
}
