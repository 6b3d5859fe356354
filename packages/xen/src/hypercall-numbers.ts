// Hypercall and sub-op numbers from Xen's public headers (xen.h,
// event_channel.h, grant_table.h, memory.h, sched.h, vcpu.h, version.h).
// Those the guest runner needs too are the domain builder's.
export {
  CONSOLEIO_write,
  DOMID_SELF,
  HYPERVISOR_console_io,
  HYPERVISOR_memory_op,
  HYPERVISOR_sched_op,
  SCHEDOP_block,
  SCHEDOP_poll,
  SCHEDOP_shutdown,
  SCHEDOP_yield,
  SHUTDOWN_crash,
  SHUTDOWN_poweroff,
  SHUTDOWN_reboot,
  SHUTDOWN_suspend,
  XENMEM_increase_reservation,
} from '@xenwasm/domain-builder/abi';

export const HYPERVISOR_set_timer_op = 15;
export const HYPERVISOR_xen_version = 17;
export const HYPERVISOR_grant_table_op = 20;
export const HYPERVISOR_vcpu_op = 24;
export const HYPERVISOR_event_channel_op = 32;

export const CONSOLEIO_read = 1;

export const EVTCHNOP_bind_interdomain = 0;
export const EVTCHNOP_bind_virq = 1;
export const EVTCHNOP_bind_pirq = 2;
export const EVTCHNOP_close = 3;
export const EVTCHNOP_send = 4;
export const EVTCHNOP_status = 5;
export const EVTCHNOP_alloc_unbound = 6;
export const EVTCHNOP_bind_ipi = 7;
export const EVTCHNOP_bind_vcpu = 8;
export const EVTCHNOP_unmask = 9;
export const EVTCHNOP_reset = 10;

export const GNTTABOP_map_grant_ref = 0;
export const GNTTABOP_unmap_grant_ref = 1;
export const GNTTABOP_setup_table = 2;
export const GNTTABOP_copy = 5;
export const GNTTABOP_query_size = 6;

export const GNTST_okay = 0;
export const GNTST_general_error = -1;
export const GNTST_bad_domain = -2;
export const GNTST_bad_gntref = -3;
export const GNTST_bad_handle = -4;
export const GNTST_permission_denied = -8;
export const GNTST_bad_page = -9;
export const GNTST_bad_copy_arg = -10;

export const GNTMAP_host_map = 1 << 1;
export const GNTMAP_readonly = 1 << 2;
export const GNTCOPY_source_gref = 1 << 0;
export const GNTCOPY_dest_gref = 1 << 1;

export const XENMEM_decrease_reservation = 1;
export const XENMEM_current_reservation = 3;
export const XENMEM_maximum_reservation = 4;



export const VCPUOP_is_up = 3;
export const VCPUOP_get_runstate_info = 4;

export const XENVER_version = 0;
export const XENVER_extraversion = 1;
export const XENVER_pagesize = 7;
export const XEN_MAJOR = 3;
export const XEN_MINOR = 2;
export const XEN_EXTRAVERSION = '.0-wasm';

export const VIRQ_TIMER = 0;
export const VIRQ_DOM_EXC = 3;

