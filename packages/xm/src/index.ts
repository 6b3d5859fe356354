export * from './config-file.js';
export * from './create-config.js';
export * from './format.js';
export * from './xmlrpc-client.js';
