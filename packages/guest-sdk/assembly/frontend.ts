// What every split-driver frontend does with xenstore (xen-facts 4.1):
// find its backend, wait for a backend state, publish its ring keys and its
// own state in one transaction.
import {
  xenbus_read, xenbus_read_int, xenbus_write, xenbus_transaction_start, xenbus_transaction_end,
  xenbus_wait_int_range, XenbusStateClosed, EAGAIN,
} from "./xenbus";

/** The device's frontend and backend as xend wrote them. */
export class FrontendInfo {
  constructor(public node: string, public backend: string, public backendId: u16) {}
}

/** Reads `<node>/backend` and `<node>/backend-id`; null when the device is not there. */
export function frontend_lookup(node: string): FrontendInfo | null {
  const be = xenbus_read(node + "/backend");
  if (be === null || be.length == 0) return null;
  const id = xenbus_read_int(node + "/backend-id", -1);
  if (id < 0) return null;
  return new FrontendInfo(node, be, <u16>id);
}

/** Blocks until the backend's state is at least lo; returns it (Closing/Closed mean it gave up). */
export function frontend_wait_backend(info: FrontendInfo, lo: i32): i32 {
  return <i32>xenbus_wait_int_range(info.backend + "/state", lo, XenbusStateClosed, "fe-be:" + info.node);
}

/** Writes keys[i] = values[i] under node and then state, in one transaction (retried on EAGAIN). 0 or -errno. */
export function frontend_publish(node: string, keys: Array<string>, values: Array<string>, state: i32): i32 {
  while (true) {
    const tx = xenbus_transaction_start();
    if (tx == 0) return -5;
    let r = 0;
    for (let i = 0; i < keys.length && r == 0; i++) r = xenbus_write(node + "/" + keys[i], values[i], tx);
    if (r == 0) r = xenbus_write(node + "/state", state.toString(), tx);
    if (r != 0) {
      xenbus_transaction_end(tx, true);
      return r;
    }
    const e = xenbus_transaction_end(tx, false);
    if (e == -EAGAIN) continue;
    return e;
  }
}

export function frontend_set_state(node: string, state: i32): i32 {
  return xenbus_write(node + "/state", state.toString());
}
