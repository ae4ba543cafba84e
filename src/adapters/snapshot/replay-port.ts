/**
 * A MongoPort that replays a snapshot: the listings come from the recorded documents (every member's
 * sections of a listing, in the recorded order), the identity is the recording connection's, and kills are
 * refused: a backtest decides and plans, it never acts. No server is contacted.
 */
import type { Activity, ListedSession, MongoPort, ReaperIdentity } from '../../pass/ports.ts';
import { MongoStageError } from '../../util/errors.ts';
import { activityFromRecord, listedFromRecord } from './decode.ts';
import type { ListingSource } from './format.ts';
import type { RecordedDocument, SnapshotContent } from './reader.ts';

export class SnapshotReplayPort implements MongoPort {
  constructor(readonly snapshot: SnapshotContent) {}

  /** The snapshot's time: the "now" of the pass that recorded it. */
  get nowMs(): number {
    return this.snapshot.header.takenAtMs;
  }

  async identity(): Promise<ReaperIdentity> {
    const { sessionId, uid, user } = this.snapshot.header.reaper;
    return { sessionId, uid, user };
  }

  private async *records<T>(source: ListingSource, read: (r: RecordedDocument, what: string) => T): AsyncIterable<T[]> {
    const what = `${source} document`;
    for await (const batch of this.snapshot.documents(source)) {
      const out = new Array<T>(batch.length);
      for (let i = 0; i < batch.length; i++) out[i] = read(batch[i]!, what);
      yield out;
    }
  }

  listSessions(): AsyncIterable<ListedSession[]> {
    return this.records('listSessions', listedFromRecord);
  }

  listLocalSessions(): AsyncIterable<ListedSession[]> {
    return this.records('listLocalSessions', listedFromRecord);
  }

  currentOp(): AsyncIterable<Activity[]> {
    return this.records('currentOp', activityFromRecord);
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
