// Cross-checks tokenizer.json with the npm package @huggingface/tokenizers:
// every story of the corpus (and a few extra strings) must encode to the same
// ids as the Python encoder in common.py and decode back to the same text.
// Usage: node scripts/pretrain/check_tokenizer.mjs <expected.json>
// (check_tokenizer.py writes expected.json and runs this.)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';

const here = dirname(fileURLToPath(import.meta.url));
const modelDir = join(here, '..', '..', 'packages', 'models', 'assets', 'peftjs-tiny-llama');
const tj = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
const tc = JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8'));
const tok = new Tokenizer(tj, tc);
const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let bad = 0;
for (const { text, ids, decoded } of cases) {
  const enc = tok.encode(text);
  const same = enc.ids.length === ids.length && enc.ids.every((v, i) => v === ids[i]);
  const dec = tok.decode(enc.ids, { skip_special_tokens: true });
  if (!same || dec !== decoded) {
    bad++;
    if (bad <= 3)
      console.log('MISMATCH', JSON.stringify(text.slice(0, 80)), enc.ids.slice(0, 12), ids.slice(0, 12), JSON.stringify(dec.slice(0, 80)));
  }
}
const sample = tok.encode('Once upon a time, a little fox named Pip');
console.log('sample', JSON.stringify(sample.tokens), JSON.stringify(sample.ids));
// The chat template must render with @huggingface/jinja.
const chat = new Template(tc.chat_template).render({
  messages: [
    { role: 'system', content: 'You tell short fables.' },
    { role: 'user', content: 'Tell me about a fox.' },
    { role: 'assistant', content: 'Once upon a time, there lived a fox.' },
    { role: 'user', content: 'And then?' },
  ],
  add_generation_prompt: true,
  bos_token: tc.bos_token,
  eos_token: tc.eos_token,
});
const expectedChat =
  '<s>You tell short fables.\n\nUser: Tell me about a fox.\nAssistant: Once upon a time, there lived a fox.</s>\nUser: And then?\nAssistant:';
const chatOk = chat === expectedChat;
if (!chatOk) {
  bad++;
  console.log('CHAT TEMPLATE MISMATCH', JSON.stringify(chat));
}
console.log('chat ids', JSON.stringify(tok.encode(chat, { add_special_tokens: false }).ids.slice(0, 8)), '...');
console.log(`${cases.length + 1 - bad} passed, ${bad} failed`);
process.exit(bad ? 1 : 0);
