export { ia3 } from './method.js';
export { Ia3Hook } from './layer.js';
export { IA3_DEFAULT_MODULES, IA3_FIELDS, parseIa3Config } from './config.js';
export type { Ia3Config } from './config.js';
