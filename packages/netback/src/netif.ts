// netif.h, 32-bit layout: tx request 12 bytes (u32 gref, u16 offset, u16
// flags, u16 id, u16 size), tx response 4 (u16 id, i16 status); rx request 8
// (u16 id, pad, u32 gref), rx response 8 (u16 id, u16 offset, u16 flags,
// i16 status = length or error). Slots: tx 12 bytes, rx 8 bytes.
export const NETTXF_csum_blank = 1 << 0;
export const NETTXF_data_validated = 1 << 1;
export const NETTXF_more_data = 1 << 2;
export const NETTXF_extra_info = 1 << 3;
export const NETRXF_data_validated = 1 << 0;
export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
export const NETIF_RSP_NULL = 1;
export const TX_SLOT = 12;
export const RX_SLOT = 8;
/** Largest frame we accept (an Ethernet frame with a 1500-byte MTU, and room). */
export const MAX_FRAME = 4096;
