// Side-effect entry: `import '@peftjs/prefix/register'` registers Prefix Tuning in the default registry.
import { registry } from '@peftjs/core';
import { prefixTuning } from './method.js';

registry.use(prefixTuning);
