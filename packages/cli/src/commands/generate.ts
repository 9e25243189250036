import * as tf from '@tensorflow/tfjs-core';
import { generate as generateWith, generateStream, generativeModel, type GenerativeModel, type PretrainedModel } from '@peftjs/models';
import type { CommandSpec, ParsedArgs } from '../args.js';
import { loadBase, loadTok, loadWithAdapter } from '../common.js';
import { UsageError } from '../errors.js';

export const generateSpec: CommandSpec = {
  name: 'generate',
  summary: 'generate text from a model (and an adapter), streaming tokens as they come',
  usage: 'peft generate --model DIR [--adapter DIR] --prompt TEXT [--max-new-tokens N] [--temperature T --top-k K --top-p P --seed S]',
  flags: [
    { name: 'model', type: 'string', description: 'Hugging Face model folder', required: true },
    { name: 'adapter', type: 'string', description: 'adapter folder to apply' },
    { name: 'prompt', type: 'string', description: 'the prompt text', required: true },
    { name: 'chat', type: 'boolean', description: "wrap the prompt as a user message in the tokenizer's chat template" },
    { name: 'max-new-tokens', type: 'number', description: 'tokens to generate at most', default: 60 },
    { name: 'temperature', type: 'number', description: 'sampling temperature (0 = greedy)', default: 0 },
    { name: 'top-k', type: 'number', description: 'keep the k most likely tokens' },
    { name: 'top-p', type: 'number', description: 'nucleus sampling threshold' },
    { name: 'seed', type: 'number', description: 'random seed for sampling', default: 0 },
  ],
};

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
): Promise<string> {
  const text = a.chat ? tok.applyChatTemplate([{ role: 'user', content: a.prompt }], { addGenerationPrompt: true }) : a.prompt;
  const ids = tok.encode(text);
  if (ids.length === 0) throw new UsageError('generate: the prompt encodes to no tokens');
  const generated: number[] = [];
  let shown = '';
  for await (const step of generateStream(generativeModel(model, base), [ids], {
    maxNewTokens: a.maxNewTokens,
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
  const out = await generateWith(generativeModel(model, base), inputIds, { maxNewTokens, attentionMask, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId ?? tok.eosTokenId });
  return out.newTokens.map((ids) => tok.decode(ids.filter((t) => t !== tok.eosTokenId), { skipSpecialTokens: true }));
}

export async function generate(args: ParsedArgs, out: (s: string) => void, write: (s: string) => void): Promise<void> {
  const f = args.flags as { model: string; adapter?: string } & GenerateArgs;
  const base = await loadBase(f.model);
  const tok = await loadTok(f.model);
  const runner = f.adapter ? await loadWithAdapter(base, f.adapter) : base;
  const before = tf.memory().numTensors;
  write(f.prompt);
  await generateText(runner, base, tok, f, write);
  write('\n');
  if (tf.memory().numTensors > before + 8) out(`(warning: ${tf.memory().numTensors - before} tensors left after generation)`);
}
