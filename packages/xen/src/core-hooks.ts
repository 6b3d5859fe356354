// The two things the core asks of whichever thread called it: mark an event
// pending in a domain's shared_info, and get a vCPU's thread moving.
import type { CoreHooks } from '@xenwasm/hypervisor-wasm';
import type { Dispatch } from './dispatch.js';
import type { GuestRegistry } from './guest-registry.js';
import { setPending, unmask } from './event-delivery.js';

export function makeHooks(registry: GuestRegistry, dispatch: Dispatch): CoreHooks {
  return {
    setPending(domid, port, vcpu) {
      const words = registry.words(domid);
      if (!words) return false;
      const due = setPending(words, port, vcpu);
      // Domain-0's vCPU is the host process's event loop, not a thread of ours.
      if (domid === 0) {
        if (due) dispatch.ringDom0();
        return false;
      }
      return due;
    },
    unmask(domid, port, vcpu) {
      const words = registry.words(domid);
      if (!words) return false;
      const due = unmask(words, port, vcpu);
      if (domid === 0) {
        if (due) dispatch.ringDom0();
        return false;
      }
      return due;
    },
    kick(domid, vcpu, pcpu) {
      if (domid === 0) {
        dispatch.ringDom0();
        return;
      }
      dispatch.poke(domid, vcpu);
      if (pcpu >= 0) dispatch.dispatch(domid, vcpu);
    },
  };
}
