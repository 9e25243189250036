// Side-effect entry: `import '@peftjs/adalora/register'` registers AdaLoRA in the default registry.
import { registry } from '@peftjs/core';
import { adalora } from './method.js';

registry.use(adalora);
