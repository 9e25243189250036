// Side-effect entry: `import '@peftjs/adapter/register'` registers bottleneck adapters in the default registry.
import { registry } from '@peftjs/core';
import { bottleneckAdapter } from './method.js';

registry.use(bottleneckAdapter);
