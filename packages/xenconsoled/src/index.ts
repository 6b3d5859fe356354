export { Xenconsoled, type ConsoledOptions } from './daemon.js';
export { DomainConsole } from './domain-console.js';
export { attachConsole, runConsole } from './client.js';
export { consoleSocketPath, consoleLogDir, ESCAPE_CHAR, type AttachRequest, type AttachReply } from './console-proto.js';
