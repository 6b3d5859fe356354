export * from './dom0.js';
export * from './xenbus-state.js';
export * from './ring.js';
export * from './backend.js';
