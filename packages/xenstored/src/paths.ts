// Xen's path rules (xenstored_core.c is_valid_nodename / is_child) and the
// domain-relative resolution every domain connection gets.

import { XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX } from '@xenwasm/xs/xs-wire';

const VALID_CHARS = /^[A-Za-z0-9\-/_@]*$/;

export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** An absolute node path as Xen accepts it. */
export function isValidNodePath(p: string): boolean {
  if (!p.startsWith('/')) return false;
  if (p.length > XENSTORE_ABS_PATH_MAX) return false;
  if (p !== '/' && p.endsWith('/')) return false;
  if (p.includes('//')) return false;
  return VALID_CHARS.test(p);
}

/** A watch path: a node path or a special `@name`. */
export function isValidWatchPath(p: string): boolean {
  if (p.startsWith('@')) return p.length <= XENSTORE_REL_PATH_MAX && p.length > 1 && VALID_CHARS.test(p) && !p.includes('/');
  return isValidNodePath(p);
}

/**
 * Resolves a request path for a connection: relative paths are under the
 * domain's home for domain connections; socket connections get no prefix,
 * so their relative paths stay relative and fail validation.
 */
export function canonicalize(p: string, domainHome: string | undefined): string {
  if (p.startsWith('/') || p.startsWith('@') || domainHome === undefined) return p;
  return p === '' ? domainHome : `${domainHome}/${p}`;
}

/** `child` is `parent`, or below it; everything is below `/`. */
export function isChild(child: string, parent: string): boolean {
  if (parent === '/') return true;
  if (child === parent) return true;
  return child.length > parent.length && child.startsWith(parent) && child.charCodeAt(parent.length) === 47;
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}
