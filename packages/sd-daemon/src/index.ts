export { notify, notifySocket, ready, stopping, reloading, status, transport, type NotifyOptions } from './notify.js';
export { startWatchdog, watchdogUsec, type Watchdog } from './watchdog.js';
export { NotifyListener, parseNotify, type NotifyMessage } from './listener.js';
export { watchParent, parentWatchEnv, PARENT_PID_ENV, type ParentWatch } from './parent-watch.js';
