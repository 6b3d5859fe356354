export * from './sxp-value.js';
export * from './sxp-parser.js';
export * from './sxp-printer.js';
export * from './python-repr.js';
