#!/usr/bin/env node
import { main } from './main.js';

void main(process.argv.slice(2), {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  write: (t) => process.stdout.write(t),
  isTTY: !!process.stdout.isTTY,
}).then((code) => {
  process.exitCode = code;
});
