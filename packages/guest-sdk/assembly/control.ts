// control/shutdown: xend writes the reason there (xm shutdown / reboot);
// the guest acknowledges by clearing it in a transaction, as Linux's
// shutdown handler does, and then shuts down with that reason.
import {
  xenbus_watch, xenbus_read, xenbus_write, xenbus_transaction_start, xenbus_transaction_end, EAGAIN,
} from "./xenbus";
import { sched_shutdown, SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_suspend } from "./sched";

export const CONTROL_SHUTDOWN_TOKEN = "control/shutdown";

/** Watches control/shutdown (token CONTROL_SHUTDOWN_TOKEN). 0 or -errno. */
export function control_watch(): i32 {
  return xenbus_watch("control/shutdown", CONTROL_SHUTDOWN_TOKEN);
}

/** SHUTDOWN_* for a control/shutdown value, or -1 for one we do not know. */
export function shutdown_reason_code(v: string): i32 {
  if (v == "poweroff" || v == "halt") return <i32>SHUTDOWN_poweroff;
  if (v == "reboot") return <i32>SHUTDOWN_reboot;
  if (v == "suspend") return <i32>SHUTDOWN_suspend;
  return -1;
}

/**
 * Takes a pending shutdown request: reads and clears control/shutdown in one
 * transaction (retrying on EAGAIN). Returns the SHUTDOWN_* code, or -1 if
 * there is no (known) request.
 */
export function control_take_shutdown(): i32 {
  while (true) {
    const tx = xenbus_transaction_start();
    if (tx == 0) return -1;
    const v = xenbus_read("control/shutdown", tx);
    if (v === null || v.length == 0) {
      xenbus_transaction_end(tx, true);
      return -1;
    }
    xenbus_write("control/shutdown", "", tx);
    const r = xenbus_transaction_end(tx, false);
    if (r == -EAGAIN) continue;
    return shutdown_reason_code(v);
  }
}

/** Acts on a request taken by control_take_shutdown (suspend returns when resumed). */
export function control_do_shutdown(reason: i32): void {
  if (reason >= 0) sched_shutdown(<u32>reason);
}
