export * from './xend-errors.js';
export * from './xmlrpc-values.js';
export * from './xmlrpc-server.js';
export * from './xend-config.js';
export * from './sxp-config.js';
