import { vitestConfig } from '../../vitest.shared';
export default vitestConfig();
