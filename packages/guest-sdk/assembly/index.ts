// The XenWasm guest SDK: import everything from "@xenwasm/guest-sdk".
export * from "./xen";
export * from "./start_info";
export * from "./shared_info";
export * from "./console";
export * from "./xencons";
export * from "./evtchn";
export * from "./sched";
export * from "./time";
export * from "./gnttab";
export * from "./memory";
export * from "./cmdline";
export * from "./abort";
export * from "./xenbus";
export * from "./control";
