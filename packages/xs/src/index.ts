export * from './xs-wire.js';
export * from './client.js';
