/**
 * A MongoPort that records what it reads: it passes every call to the MongoDB adapter and, through the
 * adapter's raw-document tap, writes each listing's documents into a snapshot as the server sent them. The
 * pass does not know it is being recorded (`run --record`, the Lambda's recording, `session-reaper snapshot`).
 *
 * Only the first read of each listing is recorded: the verification's second $currentOp after the kills is
 * not what the pass decided on. On a replica set read member by member (and through mongos, each router
 * read alone for its own operations and cache: its "localOps" and listLocalSessions sections, apart from the
 * cluster-wide $currentOp of the main connection), the members are read in parallel:
 * each member's documents (the tap names the member) are kept, encoded, until the listing ends, then written
 * as that member's section, in the order of the header's members (the order the adapter yields them in). A
 * member that stopped answering during the listing (the adapter then marks it not covered) gets a section
 * with an error, which makes the snapshot unusable for decisions rather than silently different.
 *
 * The snapshot's time is the last reading of the pass's clock (clock()) before the first listing: the "now"
 * the pass measured every idle time from, so a backtest decides with the same.
 */
import type { Activity, ActivityFilter, Coverage, ListedSession, MongoPort, ReaperIdentity, SessionKey } from '../../pass/ports.ts';
import { redactUri } from '../../util/redact.ts';
import type { DirectMember, MongoAdapter, RawListing } from '../mongodb/adapter.ts';
import { describeServer } from '../mongodb/topology.ts';
import { SECTION_SOURCES, snapshotHeader, SOURCES, type ListingSource, type SectionSource, type SnapshotHeader, type SnapshotMember } from './format.ts';
import type { SnapshotWriter, WrittenSnapshot } from './writer.ts';

export interface RecordingInfo {
  uri: string;
  cluster?: string;
  recordedBy: SnapshotHeader['source']['recordedBy'];
}

export class RecordingMongoPort implements MongoPort {
  private self: ReaperIdentity | null = null;
  private lastClockMs: number | null = null;
  private member: string | null = null;
  private headerTimeMs: number | null = null;
  private readonly recorded = new Set<ListingSource>();
  private recording: ListingSource | null = null;
  private closed: Promise<WrittenSnapshot> | null = null;
  /** What the pass's discover() found; the adapter updates it in place when a member fails later. */
  private coverage: Coverage | null = null;
  /** The coverage as the header records it, to tell at the end whether a member read then was read throughout. */
  private headerCoverage: Coverage | null = null;
  /** The members read over their own connections (fixed when the header is written); empty: all on the main one. */
  private direct: DirectMember[] = [];
  /** Through mongos: the main connection's $currentOp documents name their shard and member. */
  private routed = false;
  /** The open listing's documents per direct member, encoded, until the listing ends. */
  private readonly held = new Map<string, string[]>();

  constructor(private readonly inner: MongoAdapter, private readonly writer: SnapshotWriter, private readonly info: RecordingInfo) {
    inner.tapRawDocuments((listing: RawListing, bytes, member) => {
      if (listing !== this.recording) return;
      if (member === null) writer.document(bytes);
      else this.held.get(member)?.push(writer.encode(this.heldAs(listing) ?? listing, bytes));
    });
  }

  /** The snapshot's time once its header is written (the first listing); null while nothing is recorded. */
  get takenAtMs(): number | null {
    return this.headerTimeMs;
  }

  /** The pass's clock, observed: give it to runPass as `now` so the snapshot's time is the pass's. */
  clock(base: () => number = Date.now): () => number {
    return () => (this.lastClockMs = base());
  }

  async identity(): Promise<ReaperIdentity> {
    this.self = await this.inner.identity();
    return this.self;
  }

  /**
   * The header, before the first section: the main member (the server the main connection reaches), each
   * member read over its own connection (a replica set's members, or the routers through mongos) with its
   * sections and the reaper's session there, the shard members through mongos with their states, the members
   * not read, and the coverage as discovered.
   */
  private async writeHeader(): Promise<string> {
    if (this.member) return this.member;
    const server = await describeServer(this.inner.client);
    const self = this.self ?? (await this.identity());
    const takenAtMs = this.lastClockMs ?? Date.now();
    this.member = server.name;
    this.headerTimeMs = takenAtMs;
    this.direct = this.inner.directMembers();
    // Through mongos the main connection's $currentOp documents name their shard and member (sharded.ts tagShard).
    this.routed = this.inner.killSessionsReachEveryMember();
    const state = (host: string) => this.coverage?.members.find((m) => m.host === host)?.state;
    const mainSections = SOURCES.filter((x) => this.readsMain(x));
    const main: SnapshotMember = { name: server.name, hello: server.hello, ...(state(server.name) !== undefined ? { state: state(server.name)! } : {}), sections: mainSections };
    const members: SnapshotMember[] = this.direct.map((m): SnapshotMember => {
      const own = SOURCES.flatMap((x) => this.heldAs(x) ?? []);
      const isMain = m.host === server.name;
      return {
        name: m.host, hello: isMain ? server.hello : m.hello, state: m.state, direct: { reaperSessionId: m.reaperSessionId },
        sections: isMain ? SECTION_SOURCES.filter((x) => own.includes(x) || (mainSections as readonly SectionSource[]).includes(x)) : own,
      };
    });
    if (!members.some((m) => m.name === server.name)) members.unshift(main);
    for (const m of this.routed ? this.inner.shardMembers() : []) {
      if (!members.some((x) => x.name === m.host)) members.push({ name: m.host, hello: {}, state: m.state, shard: m.shard, sections: [] });
    }
    // The members the pass did not read (down, hidden without replSetGetConfig, --members primary): named, no sections.
    for (const c of this.coverage?.members ?? []) {
      if (!c.covered && !members.some((m) => m.name === c.host)) members.push({ name: c.host, hello: {}, state: c.state, sections: [] });
    }
    this.writer.header(snapshotHeader({
      takenAtMs,
      source: { uri: redactUri(this.info.uri), ...(this.info.cluster ? { cluster: this.info.cluster } : {}), recordedBy: this.info.recordedBy },
      topology: { kind: server.kind, ...(server.setName ? { setName: server.setName } : {}), ...(server.hosts ? { hosts: server.hosts } : {}) },
      members,
      ...(this.coverage ? { coverage: (this.headerCoverage = structuredClone(this.coverage)) } : {}),
      ...(this.routed ? { shardTags: true } : {}),
      reaper: { sessionId: self.sessionId, uid: self.uid, user: self.user },
      valuesKept: this.writer.valuesKept,
    }));
    return this.member;
  }

  /**
   * Whether the main connection reads the listing: always $listSessions; the others unless members are read
   * one by one, but for the cluster-wide $currentOp through mongos.
   */
  private readsMain(source: ListingSource): boolean {
    if (source === 'listSessions' || this.direct.length === 0) return true;
    return this.routed ? source === 'currentOp' : false;
  }

  /** The section each direct member's documents of the listing go to; null when none does (the tap names a member for each). */
  private heldAs(source: ListingSource): SectionSource | null {
    if (this.direct.length === 0 || source === 'listSessions') return null;
    return this.routed && source === 'currentOp' ? 'localOps' : source;
  }

  /** Records the listing the first time it is read; later reads pass through. */
  private async *section<T>(source: ListingSource, read: () => AsyncIterable<T[]>): AsyncIterable<T[]> {
    if (this.recorded.has(source) || this.closed) {
      yield* read();
      return;
    }
    this.recorded.add(source);
    const member = await this.writeHeader();
    const main = this.readsMain(source);
    const held = this.heldAs(source);
    if (held) for (const m of this.direct) this.held.set(m.host, []);
    if (main) this.writer.beginSection(member, source);
    this.recording = source;
    let error: string | undefined = 'the reader stopped before the end of the listing';
    try {
      for await (const batch of read()) {
        await this.writer.drain();
        yield batch;
      }
      error = undefined;
    } catch (e) {
      error = `the listing failed: ${redactUri((e as Error).message)}`;
      throw e;
    } finally {
      this.recording = null;
      if (main) this.writer.endSection(error);
      if (held) await this.writeHeld(held, error);
      await this.writer.drain();
      if (SOURCES.every((x) => this.recorded.has(x))) void this.close().catch(() => {});
    }
  }

  /** Each direct member's section of the listing just read, in the header's order. */
  private async writeHeld(section: SectionSource, error: string | undefined): Promise<void> {
    for (const m of this.direct) {
      const lines = this.held.get(m.host) ?? [];
      this.held.delete(m.host);
      const dropped = this.coverage?.members.find((c) => c.host === m.host && !c.covered);
      this.writer.beginSection(m.host, section);
      for (const line of lines) this.writer.encoded(line);
      this.writer.endSection(error ?? (dropped ? `member ${m.host} stopped answering during the listing (${dropped.why ?? 'no reason given'}); the pass went on without it, a replay cannot know what it held` : undefined));
      await this.writer.drain();
    }
  }

  listSessions(): AsyncIterable<ListedSession[]> {
    return this.section('listSessions', () => this.inner.listSessions());
  }

  listLocalSessions(): AsyncIterable<ListedSession[]> {
    return this.section('listLocalSessions', () => this.inner.listLocalSessions());
  }

  currentOp(): AsyncIterable<Activity[]> {
    return this.section('currentOp', () => this.inner.currentOp());
  }

  // Topology-aware calls pass straight through: a recorded pass reads and kills where an unrecorded one does.
  async discover(): Promise<Coverage> {
    this.coverage = await this.inner.discover();
    return this.coverage;
  }

  // The re-check's reads are after the decision: not recorded.
  currentOpOf(filter: ActivityFilter, member?: string): Promise<Activity[]> {
    return this.inner.currentOpOf(filter, member);
  }

  currentOpOn(members: readonly string[]): AsyncIterable<Activity[]> {
    return this.inner.currentOpOn(members);
  }

  killSessionsOn(member: string, batch: readonly SessionKey[]): Promise<void> {
    return this.inner.killSessionsOn(member, batch);
  }

  killOpOn(member: string, opid: string): Promise<void> {
    return this.inner.killOpOn(member, opid);
  }

  killSessions(batch: readonly SessionKey[]): Promise<void> {
    return this.inner.killSessions(batch);
  }

  killOp(opid: string): Promise<void> {
    return this.inner.killOp(opid);
  }

  roundTrips(): number {
    return this.inner.roundTrips();
  }

  /**
   * Ends the recording (the trailer; a listing not read is absent, which the reader reports) and stops the
   * tap. Called on its own once the three listings are recorded; call it after the pass in any case, and
   * await it: it rejects when the snapshot could not be written.
   */
  close(): Promise<WrittenSnapshot> {
    this.closed ??= (async () => {
      this.inner.tapRawDocuments(null);
      const changed = coverageChange(this.headerCoverage, this.coverage);
      return this.writer.finish(changed ? { coverageChanged: changed } : {});
    })();
    return this.closed;
  }
}

/** The members covered when the header was written and not covered now, with why; null when none. */
export function coverageChange(atHeader: Coverage | null, now: Coverage | null): string | null {
  if (!atHeader || !now) return null;
  const lost = atHeader.members.filter((m) => m.covered && now.members.some((x) => x.host === m.host && !x.covered));
  if (lost.length === 0) return null;
  return lost.map((m) => `${m.host} ${now.members.find((x) => x.host === m.host)?.why ?? 'was no longer read'}`).join('; ');
}
