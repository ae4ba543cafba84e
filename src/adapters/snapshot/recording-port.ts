/**
 * A MongoPort that records what it reads: it passes every call to the MongoDB adapter and, through the
 * adapter's raw-document tap, writes each listing's documents into a snapshot as the server sent them. The
 * pass does not know it is being recorded (`run --record`, the Lambda's recording, `session-reaper snapshot`).
 *
 * Only the first read of each listing is recorded: the verification's second $currentOp after the kills is
 * not what the pass decided on. The snapshot's time is the last reading of the pass's clock (clock()) before
 * the first listing: the "now" the pass measured every idle time from, so a backtest decides with the same.
 */
import type { Activity, ActivityFilter, Coverage, ListedSession, MongoPort, ReaperIdentity, SessionKey } from '../../pass/ports.ts';
import { redactUri } from '../../util/redact.ts';
import type { MongoAdapter, RawListing } from '../mongodb/adapter.ts';
import { describeServer } from '../mongodb/topology.ts';
import { snapshotHeader, SOURCES, type ListingSource, type SnapshotHeader } from './format.ts';
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

  constructor(private readonly inner: MongoAdapter, private readonly writer: SnapshotWriter, private readonly info: RecordingInfo) {
    inner.tapRawDocuments((listing: RawListing, bytes) => {
      if (listing === this.recording) writer.document(bytes);
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

  private async writeHeader(): Promise<string> {
    if (this.member) return this.member;
    const server = await describeServer(this.inner.client);
    const self = this.self ?? (await this.identity());
    const takenAtMs = this.lastClockMs ?? Date.now();
    this.member = server.name;
    this.headerTimeMs = takenAtMs;
    this.writer.header(snapshotHeader({
      takenAtMs,
      source: { uri: redactUri(this.info.uri), ...(this.info.cluster ? { cluster: this.info.cluster } : {}), recordedBy: this.info.recordedBy },
      topology: { kind: server.kind, ...(server.setName ? { setName: server.setName } : {}), ...(server.hosts ? { hosts: server.hosts } : {}) },
      members: [{ name: server.name, hello: server.hello }],
      reaper: { sessionId: self.sessionId, uid: self.uid, user: self.user },
      valuesKept: this.writer.valuesKept,
    }));
    return this.member;
  }

  /** Records the listing the first time it is read; later reads pass through. */
  private async *section<T>(source: ListingSource, read: () => AsyncIterable<T[]>): AsyncIterable<T[]> {
    if (this.recorded.has(source) || this.closed) {
      yield* read();
      return;
    }
    this.recorded.add(source);
    const member = await this.writeHeader();
    this.writer.beginSection(member, source);
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
      this.writer.endSection(error);
      await this.writer.drain();
      if (SOURCES.every((s) => this.recorded.has(s))) void this.close().catch(() => {});
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
  discover(): Promise<Coverage> {
    return this.inner.discover();
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
      return this.writer.finish();
    })();
    return this.closed;
  }
}
