// Side-effect entry: `import '@peftjs/ptuning/register'` registers P-Tuning (v1) in the default registry.
// P-Tuning v2 adapters are PREFIX_TUNING adapters: also `import '@peftjs/prefix/register'`.
import { registry } from '@peftjs/core';
import { pTuning } from './method.js';

registry.use(pTuning);
