export { Blkback } from './blkback.js';
export * from './blkif.js';
