// Side-effect entry: `import '@peftjs/example-ia3/register'` registers (IA)³ in the default registry.
import { registry } from '@peftjs/core';
import { ia3 } from './method.js';

registry.use(ia3);
