// What every xm command shares, kept apart so that a command loads only the
// modules it needs (xm-create and the config file parser load for create/new).
import { XenError } from '@xenwasm/xen-errno';

export interface Output { out: (s: string) => void; err: (s: string) => void }

export class XmUsageError extends XenError {
  constructor(message: string, readonly command: string) {
    super('XM_USAGE', message);
    this.name = 'XmUsageError';
  }
}
