// The parts of the xmlrpc package that @types/xmlrpc does not describe.
declare module 'xmlrpc/lib/deserializer.js' {
  import type { Readable } from 'node:stream';
  class Deserializer {
    constructor(encoding?: string);
    deserializeMethodCall(stream: Readable, cb: (err: Error | null | undefined, method?: string, params?: unknown[]) => void): void;
    deserializeMethodResponse(stream: Readable, cb: (err: Error | null | undefined, result?: unknown) => void): void;
  }
  export = Deserializer;
}
declare module 'xmlrpc/lib/serializer.js' {
  export function serializeMethodResponse(value: unknown): string;
  export function serializeFault(fault: { faultCode: number; faultString: string }): string;
  export function serializeMethodCall(method: string, params: unknown[], encoding?: string): string;
}
