import * as tf from '@tensorflow/tfjs-core';
import { generate as generateWith, generateStream, generativeModel, type GenerativeModel, type PretrainedModel } from '@peftjs/models';
import type { CommandSpec, FlagSpec, FlagValues, ParsedArgs } from '../args.js';
import { loadBase, loadTok, loadWithAdapter, maxPositions } from '../common.js';
import type { Io } from '../main.js';
import { UsageError } from '../errors.js';

export const generateSpec = {
  name: 'generate',
  summary: 'generate text from a model (and an adapter), streaming tokens as they come',
  usage: 'peft generate --model DIR [--adapter DIR] --prompt TEXT [--max-new-tokens N] [--temperature T --top-k K --top-p P --seed S]',
  flags: [
    { name: 'model', type: 'string', description: 'Hugging Face model folder', required: true },
    { name: 'adapter', type: 'string', description: 'adapter folder to apply' },
    { name: 'prompt', type: 'string', description: 'the prompt text', required: true },
    { name: 'chat', type: 'boolean', description: "wrap the prompt as a user message in the tokenizer's chat template" },
    {
      name: 'max-new-tokens',
      type: 'number',
      description: "tokens to generate at most (0: none; capped at the model's positions)",
      default: 60,
      rule: { integer: true, min: 0 },
    },
    { name: 'temperature', type: 'number', description: 'sampling temperature (0 = greedy)', default: 0, rule: { min: 0 } },
    { name: 'top-k', type: 'number', description: 'keep the k most likely tokens', rule: { integer: true, min: 1 } },
    { name: 'top-p', type: 'number', description: 'nucleus sampling threshold', rule: { min: 0, exclusiveMin: true, max: 1 } },
    { name: 'seed', type: 'number', description: 'random seed for sampling', default: 0, rule: { integer: true, min: 0 } },
  ] as const satisfies readonly FlagSpec[],
} satisfies CommandSpec;

export interface GenerateArgs {
  prompt: string;
  chat?: boolean;
  maxNewTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/** Generates and streams text; returns the generated part. */
export async function generateText(
  model: Pick<GenerativeModel, 'forward'>,
  base: PretrainedModel,
  tok: Awaited<ReturnType<typeof loadTok>>,
  a: GenerateArgs,
  onText?: (piece: string) => void,
  warn: (message: string) => void = console.warn,
): Promise<string> {
  const text = a.chat ? tok.applyChatTemplate([{ role: 'user', content: a.prompt }], { addGenerationPrompt: true }) : a.prompt;
  const ids = tok.encode(text);
  if (ids.length === 0) throw new UsageError('generate: the prompt encodes to no tokens');
  const room = roomFor(base, ids.length, a.maxNewTokens, warn);
  if (room === 0) return '';
  const generated: number[] = [];
  let shown = '';
  for await (const step of generateStream(generativeModel(model, base), [ids], {
    maxNewTokens: room,
    temperature: a.temperature,
    topK: a.topK,
    topP: a.topP,
    seed: a.seed,
    eosTokenId: tok.eosTokenId,
  })) {
    if (step.finished[0] && step.tokens[0] === tok.eosTokenId) break;
    generated.push(step.tokens[0]);
    const full = tok.decode(generated, { skipSpecialTokens: true });
    if (onText && full.length > shown.length && !full.endsWith('\uFFFD')) {
      onText(full.slice(shown.length));
      shown = full;
    }
  }
  const final = tok.decode(generated, { skipSpecialTokens: true });
  if (onText && final.length > shown.length) onText(final.slice(shown.length));
  return final;
}

/** Greedy answers for many prompts at once: one left-padded batch, decoded with the KV cache. */
export async function generateBatch(
  model: Pick<GenerativeModel, 'forward'>,
  base: PretrainedModel,
  tok: Awaited<ReturnType<typeof loadTok>>,
  prompts: string[],
  maxNewTokens: number,
): Promise<string[]> {
  const { inputIds, attentionMask } = tok.encodeBatch(prompts, { paddingSide: 'left' });
  const out = await generateWith(generativeModel(model, base), inputIds, {
    maxNewTokens,
    attentionMask,
    eosTokenId: tok.eosTokenId,
    padTokenId: tok.padTokenId ?? tok.eosTokenId,
  });
  return out.newTokens.map((ids) =>
    tok.decode(
      ids.filter((t) => t !== tok.eosTokenId),
      { skipSpecialTokens: true },
    ),
  );
}

/**
 * New tokens that fit the model's position table after a prompt of `promptLength` tokens: a prompt
 * that fills the table is refused; fewer new tokens than asked are generated, with a warning.
 */
export function roomFor(base: PretrainedModel, promptLength: number, maxNewTokens: number, warn: (message: string) => void): number {
  const positions = maxPositions(base);
  if (positions === undefined) return maxNewTokens;
  if (promptLength >= positions)
    throw new UsageError(`--prompt is ${promptLength} tokens; the model has ${positions} positions (max_position_embeddings): shorten it`);
  if (promptLength + maxNewTokens <= positions) return maxNewTokens;
  warn(
    `warning: --max-new-tokens ${maxNewTokens} capped at ${positions - promptLength}: the prompt (${promptLength} tokens) and the new tokens must fit the model's ${positions} positions`,
  );
  return positions - promptLength;
}

type GenerateFlags = FlagValues<typeof generateSpec.flags>;

export async function generate(args: ParsedArgs, io: Io): Promise<void> {
  const f = args.flags as GenerateFlags;
  const base = await loadBase(f.model);
  const tok = await loadTok(f.model);
  const runner = f.adapter ? await loadWithAdapter(base, f.adapter) : base;
  if (f.maxNewTokens === 0) return; // nothing to generate: nothing printed
  const before = tf.memory().numTensors;
  io.write(f.prompt);
  await generateText(runner, base, tok, f, io.write, io.err);
  io.write('\n');
  if (tf.memory().numTensors > before + 8) io.err(`(warning: ${tf.memory().numTensors - before} tensors left after generation)`);
}
