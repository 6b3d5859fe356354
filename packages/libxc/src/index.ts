export * from './xc.js';
export * from './privcmd-wire.js';
