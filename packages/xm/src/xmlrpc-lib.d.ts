// The xmlrpc package's deserializer, loaded by xm only for unusual answers.
declare module 'xmlrpc/lib/deserializer.js' {
  import type { Readable } from 'node:stream';
  export default class Deserializer {
    constructor(encoding?: string);
    deserializeMethodResponse(stream: Readable, callback: (err: unknown, value?: unknown) => void): void;
  }
}
