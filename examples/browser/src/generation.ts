/** "Try it": greedy text from the base model and from the model with its adapter, streamed piece by piece. */
import { generateStream, type GenerativeModel } from '@peftjs/models';
import { requireModel, state } from './engine.js';

type Forward = GenerativeModel['forward'];

/** Greedy continuation of `prompt`, calling `onPiece` with each new piece of decoded text. */
async function continueText(forward: Forward, prompt: string, maxNewTokens: number, onPiece: (s: string) => void): Promise<string> {
  const { base, tokenizer: tok } = requireModel();
  const ids = tok.encode(prompt);
  if (ids.length === 0) throw new Error('the prompt encodes to no tokens');
  const model: GenerativeModel = { forward, newCache: () => (base as unknown as GenerativeModel).newCache() };
  const generated: number[] = [];
  let shown = '';
  for await (const step of generateStream(model, [ids], { maxNewTokens, eosTokenId: tok.eosTokenId })) {
    if (step.finished[0] && step.tokens[0] === tok.eosTokenId) break;
    generated.push(step.tokens[0]);
    const text = tok.decode(generated, { skipSpecialTokens: true });
    if (text.length > shown.length && !text.endsWith('\uFFFD')) {
      onPiece(text.slice(shown.length));
      shown = text;
    }
  }
  return tok.decode(generated, { skipSpecialTokens: true });
}

/** The base model's answer (adapters disabled) and, when there is an adapter, the adapted one. */
export async function beforeAndAfter(
  prompt: string,
  maxNewTokens: number,
  onPiece: (which: 'base' | 'adapter', s: string) => void,
): Promise<{ base: string; adapter: string | null }> {
  const { base } = requireModel();
  const peft = state.peft;
  if (!('newCache' in base)) throw new Error(`${requireModel().info.architecture} does not generate text`);
  if (!peft)
    return {
      base: await continueText(
        (b) => base.forward(b as never) as never,
        prompt,
        maxNewTokens,
        (s) => onPiece('base', s),
      ),
      adapter: null,
    };
  peft.eval();
  const fwd: Forward = (b) => peft.forward(b);
  const plain = await peft.disableAdapter(() => continueText(fwd, prompt, maxNewTokens, (s) => onPiece('base', s)));
  const adapted = await continueText(fwd, prompt, maxNewTokens, (s) => onPiece('adapter', s));
  return { base: plain, adapter: adapted };
}
