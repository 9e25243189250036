import { vitestConfig } from '../../vitest.shared.ts';
// SwiftShader compiles every new shader on the CPU: a test's first product can take tens of seconds on a loaded machine.
export default vitestConfig({ testTimeout: 300_000 });
