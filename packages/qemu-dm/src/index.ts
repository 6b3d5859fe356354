export * from './ioreq.js';
export * from './wasi-abi.js';
export * from './config.js';
export { wasiTrapImports, createWasiTrap, CONSOLE_BUFFER, notifyShutdown, WasiExit, type IoreqTransport, type TrapOptions } from './wasi-trap.js';
export { DeviceModel, type ConsoleSink } from './device-model.js';
export { startStubdom, type Stubdom } from './stubdom.js';
export { sendFrame, readFrames } from './frame.js';
export { fileConsole, guestConsole, GuestConsole } from './console-sink.js';
import { fileURLToPath } from 'node:url';
/** Path of the qemu-dm executable script. */
export const QEMU_DM_PATH = fileURLToPath(new URL('./main.js', import.meta.url));
