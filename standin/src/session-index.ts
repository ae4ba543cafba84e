/**
 * Things indexed by the session that owns them (running operations, cursors): killing or refreshing a
 * session must reach its operations and cursors without scanning every one on the server.
 */
import type { SessionRecord } from './sessions.ts';

export class SessionIndex<T> {
  private readonly bySession = new Map<SessionRecord, Set<T>>();

  add(session: SessionRecord | null, item: T): void {
    if (!session) return;
    let set = this.bySession.get(session);
    if (!set) this.bySession.set(session, (set = new Set()));
    set.add(item);
  }

  delete(session: SessionRecord | null, item: T): void {
    if (!session) return;
    const set = this.bySession.get(session);
    set?.delete(item);
    if (set?.size === 0) this.bySession.delete(session);
  }

  of(session: SessionRecord): T[] {
    const set = this.bySession.get(session);
    return set ? [...set] : [];
  }

  has(session: SessionRecord): boolean {
    return this.bySession.has(session);
  }

  sessions(): IterableIterator<SessionRecord> {
    return this.bySession.keys();
  }
}
