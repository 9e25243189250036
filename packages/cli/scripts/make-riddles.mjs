#!/usr/bin/env node
// Writes the demo task: animal riddles as {"prompt","completion"} JSONL (text written here, for
// this repo). The split is by clue pair: a validation riddle never shares its pair of clues with a
// training riddle, so the validation score measures generalisation, not recall.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ANIMALS = {
  owl: ['I hoot in the dark night', 'I have big round eyes', 'I sleep all day in a tall tree', 'I fly without a sound'],
  fox: [
    'I have a red coat and a bushy tail',
    'I am very clever and a little sly',
    'I live in a den under the hill',
    'I like to hunt at dusk',
  ],
  duck: ['I swim on the pond', 'I say quack quack', 'I have webbed feet', 'I have a flat yellow bill'],
  snail: ['I carry my house on my back', 'I am very, very slow', 'I leave a shiny trail', 'I hide in my shell when I am scared'],
  beaver: ['I build a dam across the river', 'I have big strong teeth', 'I slap the water with my flat tail', 'I chew the trees down'],
  crow: ['I am black from head to tail', 'I say caw caw', 'I like shiny things', 'I sit on the fence and watch the field'],
  lamb: ['I have a soft white coat of wool', 'I say baa', 'I follow my mother in the meadow', 'I am a baby sheep'],
  tortoise: ['I wear a hard shell', 'I am slow but I never give up', 'I can live for a hundred years', 'I pull my head into my shell'],
  frog: ['I jump from lily pad to lily pad', 'I say ribbit', 'I catch flies with my long tongue', 'I was a tadpole once'],
  squirrel: ['I hide nuts for the winter', 'I have a big fluffy tail', 'I run up and down the trees', 'I hold an acorn in my paws'],
  rabbit: ['I have long ears', 'I hop across the field', 'I love to eat carrots', 'I live in a burrow'],
  bear: ['I sleep all winter long', 'I love honey', 'I am big and brown and strong', 'I catch fish in the river'],
  goose: ['I honk very loudly', 'I fly south in a long line', 'I have a long white neck', 'I chase people who come too near'],
  mouse: ['I am small and grey', 'I squeak in the wall', 'I love cheese', 'I run from the cat'],
};

const OPENERS = ['Riddle:', 'Guess who I am:', 'Here is a riddle:'];
const CLOSERS = ['Who am I?', 'What animal am I?', 'Can you guess?'];

const rows = [];
for (const [animal, clues] of Object.entries(ANIMALS)) {
  for (let i = 0; i < clues.length; i++) {
    for (let j = 0; j < clues.length; j++) {
      if (i === j) continue;
      const pair = [i, j].sort().join('-');
      const k = (i * 4 + j) % 3;
      const prompt = `${OPENERS[k]} ${clues[i]}, and ${clues[j].replace(/^I /, 'I ')}. ${CLOSERS[(i + j) % 3]}\nAnswer:`;
      rows.push({ animal, pair, record: { prompt, completion: ` I am ${/^[aeiou]/.test(animal) ? 'an' : 'a'} ${animal}.` } });
    }
  }
}
// Held-out clue pairs: for each animal, the pair (0,3) and (1,2) in both orders go to validation.
const held = new Set(['0-3', '1-2']);
const train = rows.filter((r) => !held.has(r.pair)).map((r) => r.record);
const valid = rows.filter((r) => held.has(r.pair)).map((r) => r.record);

const out = join(dirname(fileURLToPath(import.meta.url)), '../assets/riddles');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'train.jsonl'), train.map((r) => JSON.stringify(r)).join('\n') + '\n');
writeFileSync(join(out, 'valid.jsonl'), valid.map((r) => JSON.stringify(r)).join('\n') + '\n');
console.log(`wrote ${train.length} training and ${valid.length} validation riddles to ${out}`);
