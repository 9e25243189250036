import { defineConfig } from 'tsup';
import { preset } from '../../tsup.preset.ts';
// Two entries: the plugin API (`@peftjs/core`) and file I/O (`@peftjs/core/io`).
export default defineConfig(preset(['src/index.ts', 'src/io/index.ts']));
