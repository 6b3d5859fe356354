export { Netback } from './netback.js';
export { Bridge, Bridges, type BridgePort } from './bridge.js';
export * from './netif.js';
