// Side-effect entry: `import '@peftjs/qlora/register'` lets `loadModel` read bitsandbytes 4-bit folders
// and quantize float ones while loading (`{ quantize: { type: 'nf4' } }`).
import { weightFormats } from '@peftjs/core';
import { bitsandbytes4bit } from './format.js';

weightFormats.register(bitsandbytes4bit);
