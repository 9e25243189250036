import { collateExamples, evaluateModel, loadJsonlDataset } from '@peftjs/train';
import type { CommandSpec, FlagSpec, FlagValues, ParsedArgs } from '../args.js';
import { ensureBackend, loadBase, loadTok, loadWithAdapter, maxPositions } from '../common.js';
import { UsageError } from '../errors.js';
import type { Io } from '../main.js';

export const evalSpec = {
  name: 'eval',
  summary: 'loss, perplexity (and accuracy for classification) of a model, with or without an adapter',
  usage: 'peft eval --model DIR [--adapter DIR] --data FILE.jsonl [--batch-size N] [--max-length N]',
  flags: [
    { name: 'model', type: 'string', description: 'Hugging Face model folder', required: true },
    { name: 'adapter', type: 'string', description: 'adapter folder to apply' },
    { name: 'data', type: 'string', description: 'JSONL to evaluate on (same formats as train)', required: true },
    { name: 'batch-size', type: 'number', description: 'examples per batch', default: 8, rule: { integer: true, min: 1 } },
    {
      name: 'max-length',
      type: 'number',
      description: "longest example in tokens (at most the model's positions)",
      default: 128,
      rule: { integer: true, min: 1 },
    },
    { name: 'backend', type: 'string', description: 'tfjs backend', default: 'auto', choices: ['auto', 'tensorflow', 'wasm', 'cpu'] },
    { name: 'json', type: 'boolean', description: 'print one JSON object' },
  ] as const satisfies readonly FlagSpec[],
} satisfies CommandSpec;

type EvalFlags = FlagValues<typeof evalSpec.flags>;

export async function evaluate(args: ParsedArgs, io: Io): Promise<void> {
  const f = args.flags as EvalFlags;
  await ensureBackend(f.backend);
  const base = await loadBase(f.model);
  const positions = maxPositions(base);
  if (positions !== undefined && f.maxLength > positions)
    throw new UsageError(`--max-length ${f.maxLength} exceeds the model's ${positions} positions (max_position_embeddings)`);
  const tok = await loadTok(f.model);
  let data;
  try {
    data = await loadJsonlDataset(f.data, tok, { maxLength: f.maxLength, validation: 0, shuffle: false, warn: () => undefined });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
  const model = f.adapter ? await loadWithAdapter(base, f.adapter) : base;
  const pad = tok.padTokenId ?? tok.eosTokenId ?? 0;
  const r = evaluateModel(model, data.train, { batchSize: f.batchSize, collate: (items) => collateExamples(items, pad) });
  if (f.json) io.out(JSON.stringify({ loss: r.loss, perplexity: r.perplexity, accuracy: r.accuracy, examples: r.examples }));
  else
    io.out(
      `${f.data}: ${r.examples} examples — loss ${r.loss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)}${r.accuracy !== undefined ? `, accuracy ${(100 * r.accuracy).toFixed(1)}%` : ''}`,
    );
}
