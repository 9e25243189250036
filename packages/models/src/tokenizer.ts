import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { pathExists, readJsonFile } from '@peftjs/core/io';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant turn's opening (`add_generation_prompt`). */
  addGenerationPrompt?: boolean;
  /** A named template when tokenizer_config.json holds several (`default` otherwise). */
  templateName?: string;
  /** Extra variables for the template. */
  extra?: Record<string, unknown>;
}

export interface EncodeOptions {
  /** Add the tokenizer's special tokens (e.g. `<s>`), as transformers does by default. */
  addSpecialTokens?: boolean;
}

export interface BatchEncodeOptions extends EncodeOptions {
  /** Pad to the longest row (default true). */
  padding?: boolean;
  /** Where padding goes: right (training) or left (batched generation). Default: tokenizer_config's `padding_side`, else right. */
  paddingSide?: 'left' | 'right';
}

/** A `special_tokens`-style entry: a string or an AddedToken object `{ content }`. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/**
 * A Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`): encoding, decoding,
 * special tokens and the chat template.
 */
export class PretrainedTokenizer {
  readonly tokenizer: Tokenizer;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly padToken?: string;
  readonly unkToken?: string;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
  readonly padTokenId?: number;
  readonly unkTokenId?: number;
  readonly paddingSide: 'left' | 'right';
  private readonly templates = new Map<string, string>();

  constructor(
    readonly tokenizerJson: Record<string, unknown>,
    readonly config: Record<string, unknown> = {},
  ) {
    this.tokenizer = new Tokenizer(tokenizerJson, config);
    const id = (t: string | undefined, field: string): number | undefined => {
      if (t === undefined) return undefined;
      const i = this.tokenizer.token_to_id(t);
      if (i === undefined)
        throw new Error(`tokenizer_config.json: ${field} ${JSON.stringify(t)} is not in the vocabulary of tokenizer.json`);
      return i;
    };
    this.bosToken = tokenString(config.bos_token);
    this.eosToken = tokenString(config.eos_token);
    this.padToken = tokenString(config.pad_token);
    this.unkToken = tokenString(config.unk_token);
    this.bosTokenId = id(this.bosToken, 'bos_token');
    this.eosTokenId = id(this.eosToken, 'eos_token');
    this.padTokenId = id(this.padToken, 'pad_token');
    this.unkTokenId = id(this.unkToken, 'unk_token');
    this.paddingSide = config.padding_side === 'left' ? 'left' : 'right';
    const ct = config.chat_template;
    if (typeof ct === 'string') this.templates.set('default', ct);
    else if (Array.isArray(ct)) {
      for (const t of ct as Array<{ name?: unknown; template?: unknown }>) {
        if (typeof t?.name === 'string' && typeof t.template === 'string') this.templates.set(t.name, t.template);
      }
    }
  }

  /** The vocabulary size, added tokens included. */
  get vocabSize(): number {
    return this.tokenizer.get_vocab(true).size;
  }

  /** The chat template (named, or `default`), if the tokenizer has one. */
  chatTemplate(name = 'default'): string | undefined {
    return this.templates.get(name) ?? (name === 'default' && this.templates.size > 0 ? [...this.templates.values()][0] : undefined);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** Encodes several texts, padded with pad (else eos) to the longest; mask 1 = token, 0 = padding. */
  encodeBatch(texts: string[], opts: BatchEncodeOptions = {}): { inputIds: number[][]; attentionMask: number[][] } {
    const rows = texts.map((t) => this.encode(t, opts));
    if (opts.padding === false) return { inputIds: rows, attentionMask: rows.map((r) => r.map(() => 1)) };
    const pad = this.padTokenId ?? this.eosTokenId;
    if (pad === undefined) throw new Error('tokenizer: padding needs a pad_token or eos_token in tokenizer_config.json');
    const T = Math.max(0, ...rows.map((r) => r.length));
    const side = opts.paddingSide ?? this.paddingSide;
    const inputIds: number[][] = [];
    const attentionMask: number[][] = [];
    for (const r of rows) {
      const fill = new Array<number>(T - r.length);
      if (side === 'left') {
        inputIds.push([...fill.fill(pad), ...r]);
        attentionMask.push([...fill.fill(0), ...r.map(() => 1)]);
      } else {
        inputIds.push([...r, ...fill.fill(pad)]);
        attentionMask.push([...r.map(() => 1), ...fill.fill(0)]);
      }
    }
    return { inputIds, attentionMask };
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /**
   * Renders the chat template with `messages`, `add_generation_prompt` and the special tokens
   * (`bos_token`, `eos_token`, …), as transformers' `apply_chat_template(tokenize=False)`.
   */
  applyChatTemplate(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    const name = opts.templateName ?? 'default';
    const source = this.chatTemplate(name);
    if (source === undefined) {
      throw new Error(
        `tokenizer_config.json: no chat_template${name === 'default' ? '' : ` named "${name}"`} (this tokenizer has no chat format)`,
      );
    }
    return new Template(source).render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      pad_token: this.padToken ?? '',
      unk_token: this.unkToken ?? '',
      ...opts.extra,
    });
  }

  /**
   * The chat rendered and tokenized. The template writes its own special tokens, so none are
   * added again (transformers' `apply_chat_template(tokenize=True)`).
   */
  encodeChat(messages: ChatMessage[], opts: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { addSpecialTokens: false });
  }
}

/** Reads `tokenizer.json` and (if present) `tokenizer_config.json` from a Hugging Face folder. */
export async function loadTokenizer(dir: string): Promise<PretrainedTokenizer> {
  const sep = dir.endsWith('/') ? '' : '/';
  const jsonPath = `${dir}${sep}tokenizer.json`;
  if (!(await pathExists(jsonPath))) throw new Error(`${dir}: no tokenizer.json (only fast-tokenizer files are read)`);
  const tokenizerJson = await readJsonFile<Record<string, unknown>>(jsonPath);
  const configPath = `${dir}${sep}tokenizer_config.json`;
  const config = (await pathExists(configPath)) ? await readJsonFile<Record<string, unknown>>(configPath) : {};
  return new PretrainedTokenizer(tokenizerJson, config);
}
