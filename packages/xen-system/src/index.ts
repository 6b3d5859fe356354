export * from './layout.js';
export * from './units.js';
export * from './install.js';
export * from './unit-file.js';
export * from './xendomains.js';
