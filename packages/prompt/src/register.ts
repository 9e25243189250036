// Side-effect entry: `import '@peftjs/prompt/register'` registers Prompt Tuning in the default registry.
import { registry } from '@peftjs/core';
import { promptTuning } from './method.js';

registry.use(promptTuning);
