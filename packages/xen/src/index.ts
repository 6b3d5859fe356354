export * from './hypervisor.js';
export * from './privcmd-server.js';
export * as abi from './abi.js';
