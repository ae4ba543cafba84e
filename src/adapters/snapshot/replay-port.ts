/**
 * A MongoPort that replays a snapshot: the listings come from the recorded documents (every member's
 * sections of a listing, in the recorded order), the identity is the recording connection's, and kills are
 * refused: a backtest decides and plans, it never acts. No server is contacted.
 *
 * A member the pass read over its own direct connection (format.ts `direct`) has its documents tagged as the
 * live adapter tags them (src/adapters/mongodb/adapter.ts readMembers): $currentOp documents with the member
 * and its state, and in both listings the reaper's session on that connection reported as its main session.
 * The coverage the pass discovered (members not read, and why) is what discover() answers, so a backtest
 * reports the coverage the pass reported and its gates (no primary read: no decisions) act the same.
 *
 * Through mongos (format.ts `shardTags`) every $currentOp document that names its `shard` and `host` is tagged
 * with them and that member's recorded state (sharded.ts tagShard); a router's own documents (its "localOps"
 * section) are then tagged with the router, as the pass tagged them.
 */
import type { Activity, Coverage, ListedSession, MemberState, MongoPort, ReaperIdentity } from '../../pass/ports.ts';
import { MongoStageError } from '../../util/errors.ts';
import { activityFromRecord, listedFromRecord } from './decode.ts';
import type { ListingSource } from './format.ts';
import type { RecordedDocument, SnapshotContent } from './reader.ts';

/** How a direct member's documents are tagged. */
interface Tag {
  member: string;
  state: MemberState | undefined;
  reaperSessionId: string;
}

export class SnapshotReplayPort implements MongoPort {
  /** Present when the snapshot recorded the pass's discovery (format version 2): answers with it. */
  readonly discover?: () => Promise<Coverage>;
  private readonly tags = new Map<string, Tag>();
  /** Through mongos: the shard members' recorded states, by host. */
  private readonly shardStates: Map<string, MemberState | ''> | null;
  /** With keepDecoded: each listing's records once read whole, for the next pass over the same snapshot. */
  private readonly decoded: Map<ListingSource, unknown[][]> | null;

  /**
   * keepDecoded: the snapshot is replayed more than once (--compare, the cross-check), so each listing is
   * decompressed, parsed and decoded once and its records kept for the next pass (the pass never changes the
   * records it is given). Memory then holds the snapshot's records, not one batch at a time.
   */
  constructor(readonly snapshot: SnapshotContent, options: { keepDecoded?: boolean } = {}) {
    this.decoded = options.keepDecoded ? new Map() : null;
    const { coverage, members } = snapshot.header;
    if (coverage) this.discover = async () => structuredClone(coverage);
    this.shardStates = snapshot.header.shardTags ? new Map(members.filter((m) => m.shard !== undefined).map((m) => [m.name, m.state ?? ''])) : null;
    for (const m of members) {
      if (m.direct) this.tags.set(m.name, { member: m.name, state: m.state || undefined, reaperSessionId: m.direct.reaperSessionId });
    }
  }

  /** The snapshot's time: the "now" of the pass that recorded it. */
  get nowMs(): number {
    return this.snapshot.header.takenAtMs;
  }

  async identity(): Promise<ReaperIdentity> {
    const { sessionId, uid, user } = this.snapshot.header.reaper;
    return { sessionId, uid, user };
  }

  private async *records<T>(source: ListingSource, read: (r: RecordedDocument, what: string) => T, tag: (item: T, t: Tag) => T): AsyncIterable<T[]> {
    const kept = this.decoded?.get(source) as T[][] | undefined;
    if (kept) {
      yield* kept;
      return;
    }
    const batches: T[][] | null = this.decoded ? [] : null;
    for await (const batch of this.decode(source, read, tag)) {
      batches?.push(batch);
      yield batch;
    }
    // Kept only once read to the end: a read that stopped early (an error) is not the listing.
    if (batches) this.decoded!.set(source, batches);
  }

  private async *decode<T>(source: ListingSource, read: (r: RecordedDocument, what: string) => T, tag: (item: T, t: Tag) => T): AsyncIterable<T[]> {
    const what = `${source} document`;
    const tags = this.tags;
    // Through mongos the main connection's $currentOp (a router's "currentOp" section) is tagged from its documents only.
    const untagged = this.shardStates ? 'currentOp' : null;
    for await (const batch of this.snapshot.documents(source)) {
      const out = new Array<T>(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const r = batch[i]!;
        const item = read(r, what);
        const t = tags.size && r.member !== undefined && r.section !== untagged ? tags.get(r.member) : undefined;
        out[i] = t ? tag(item, t) : item;
      }
      yield out;
    }
  }

  listSessions(): AsyncIterable<ListedSession[]> {
    // Read over the main connection, never member by member: untagged.
    return this.records('listSessions', listedFromRecord, (s) => s);
  }

  listLocalSessions(): AsyncIterable<ListedSession[]> {
    const mainId = this.snapshot.header.reaper.sessionId;
    return this.records('listLocalSessions', listedFromRecord, (s, t) => (s.id === t.reaperSessionId ? { ...s, id: mainId } : s));
  }

  currentOp(): AsyncIterable<Activity[]> {
    const mainId = this.snapshot.header.reaper.sessionId;
    const states = this.shardStates;
    const read = states
      ? (r: RecordedDocument, what: string) => activityFromRecord(r, what, (doc, a) => {
        if (typeof doc.shard !== 'string' || typeof doc.host !== 'string') return a;
        a.member = doc.host;
        a.shard = doc.shard;
        const state = states.get(doc.host);
        if (state) a.memberState = state;
        return a;
      })
      : activityFromRecord;
    return this.records('currentOp', read, (a, t) => ({
      ...a, sessionId: a.sessionId === t.reaperSessionId ? mainId : a.sessionId, member: t.member, ...(t.state ? { memberState: t.state } : {}),
    }));
  }

  async currentOpOf(): Promise<Activity[]> {
    // The re-check before a kill batch: a replay never gets that far.
    throw new MongoStageError('a snapshot replay never kills, so it never re-checks: run the pass as a dry run');
  }

  async killSessions(): Promise<void> {
    throw new MongoStageError('a snapshot replay never kills: run the pass as a dry run');
  }

  async killOp(): Promise<void> {
    throw new MongoStageError('a snapshot replay never kills: run the pass as a dry run');
  }

  roundTrips(): number {
    return 0;
  }
}
