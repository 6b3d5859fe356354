// Watches (the job of Xen's xenstored_watch.c): who asked to hear of
// changes where. A change at a path fires the watches on that path and on
// its ancestors; a recursive change (rm of a subtree) also those below it.
// Special events (@introduceDomain, @releaseDomain) fire the watches on
// that very name, and, as in Xen (whose is_child makes everything a child
// of /), the watches on /.
//
// Xen walks every connection's every watch for each change. With a thousand
// guests holding two watches each, and ~45 changes to make one domain's
// tree, that walk was most of this daemon's work per `xm create`. Here
// watches are indexed by path: a change costs one lookup per level of its
// path, and only a recursive change looks at the other watched paths.
// Events keep Xen's order: by connection, then in the order each
// connection set its watches.

import type { Connection, Watch } from './connection.js';
import { isChild, parentOf } from './paths.js';

interface Entry {
  conn: Connection;
  watch: Watch;
  /** Order of setting, across all connections. */
  seq: number;
}

export interface WatchMatch {
  conn: Connection;
  watch: Watch;
  /** The path the event names (the change's, or the watch's when the change is above it). */
  path: string;
}

export class WatchTable {
  private readonly byPath = new Map<string, Entry[]>();
  private seq = 0;

  /** Registers a watch (the caller checked EEXIST and quotas on conn.watches). */
  add(conn: Connection, watch: Watch): void {
    conn.watches.push(watch);
    const list = this.byPath.get(watch.path);
    const e = { conn, watch, seq: ++this.seq };
    if (list) list.push(e);
    else this.byPath.set(watch.path, [e]);
  }

  /** Removes conn's watch of path with token; false when there is none. */
  remove(conn: Connection, path: string, token: string): boolean {
    const i = conn.watches.findIndex((w) => w.path === path && w.token === token);
    if (i < 0) return false;
    const [w] = conn.watches.splice(i, 1);
    this.unindex(conn, w!);
    return true;
  }

  /** Forgets every watch of conn (connection gone, or RESET_WATCHES). */
  removeAll(conn: Connection): void {
    for (const w of conn.watches) this.unindex(conn, w);
    conn.watches.length = 0;
  }

  private unindex(conn: Connection, w: Watch): void {
    const list = this.byPath.get(w.path);
    if (!list) return;
    const i = list.findIndex((e) => e.conn === conn && e.watch === w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byPath.delete(w.path);
  }

  /** The watches a change at `path` fires, in delivery order. */
  matches(path: string, recursive: boolean): WatchMatch[] {
    const hits: Array<{ e: Entry; path: string }> = [];
    const take = (list: Entry[] | undefined, at: string) => {
      if (list) for (const e of list) hits.push({ e, path: at });
    };
    if (path.startsWith('@')) {
      take(this.byPath.get(path), path);
      take(this.byPath.get('/'), path);
    } else {
      for (let p = path; ; p = parentOf(p)) {
        take(this.byPath.get(p), path);
        if (p === '/') break;
      }
      if (recursive) {
        for (const [p, list] of this.byPath) if (p !== path && isChild(p, path)) take(list, p);
      }
    }
    if (hits.length > 1) hits.sort((a, b) => a.e.conn.serial - b.e.conn.serial || a.e.seq - b.e.seq);
    return hits.map((h) => ({ conn: h.e.conn, watch: h.e.watch, path: h.path }));
  }

  /** Watches set, over all connections. */
  get size(): number {
    let n = 0;
    for (const list of this.byPath.values()) n += list.length;
    return n;
  }
}
