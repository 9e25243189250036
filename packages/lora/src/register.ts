// Side-effect entry: `import '@peftjs/lora/register'` registers LoRA in the default registry.
import { registry } from '@peftjs/core';
import { lora } from './method.js';

registry.use(lora);
