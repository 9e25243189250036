import { helpText, parseArgs, type CommandSpec, type ParsedArgs } from './args.js';
import { UsageError, exitCodeOf } from './errors.js';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  write: (text: string) => void;
  isTTY: boolean;
}

interface Command {
  spec: CommandSpec;
  run(args: ParsedArgs, io: Io): Promise<void>;
}

async function commands(): Promise<Record<string, Command>> {
  const { inspectSpec, inspect } = await import('./commands/inspect.js');
  const { generateSpec, generate } = await import('./commands/generate.js');
  const { mergeSpec, merge } = await import('./commands/merge.js');
  const { trainSpec, train } = await import('./commands/train.js');
  const { evalSpec, evaluate } = await import('./commands/eval.js');
  const { demoSpec, demo } = await import('./commands/demo.js');
  return {
    train: { spec: trainSpec, run: (a, io) => train(a, io) },
    eval: { spec: evalSpec, run: (a, io) => evaluate(a, io) },
    generate: { spec: generateSpec, run: (a, io) => generate(a, io) },
    merge: { spec: mergeSpec, run: (a, io) => merge(a, io.out) },
    inspect: { spec: inspectSpec, run: (a, io) => inspect(a, io.out) },
    demo: { spec: demoSpec, run: (a, io) => demo(a, io) },
  };
}

const USAGE = `peft — parameter-efficient fine-tuning with TensorFlow.js

Usage: peft <command> [options]     (peft <command> --help for its options)

Commands:
  train     fine-tune a model folder on a JSONL dataset with a PEFT method
  eval      loss / perplexity / accuracy of a model (and adapter) on a JSONL dataset
  generate  generate text, streaming tokens
  merge     merge an adapter into its base and write a Hugging Face folder
  inspect   summarise a model folder or an adapter
  demo      the main job: fine-tune the bundled model with LoRA and show the result`;

/** Runs the CLI; returns the exit code (0 ok, 2 bad input, 1 failure). */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name ? 0 : 2;
  }
  try {
    const all = await commands();
    const cmd = all[name];
    if (!cmd) throw new UsageError(`unknown command "${name}"; commands: ${Object.keys(all).join(', ')}`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(helpText(cmd.spec));
      return 0;
    }
    await cmd.run(parseArgs(cmd.spec, rest), io);
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    io.err(`peft ${name}: ${msg.split('\n')[0]}`);
    if (process.env.PEFTJS_DEBUG && e instanceof Error) io.err(e.stack ?? '');
    return exitCodeOf(e);
  }
}
