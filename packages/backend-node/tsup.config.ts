import { defineConfig } from 'tsup';
import { preset } from '../../tsup.preset.ts';
export default defineConfig(preset(['src/index.ts', 'src/browser.ts']));
