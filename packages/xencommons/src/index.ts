export * from './stack.js';
export * from './xm-run.js';
