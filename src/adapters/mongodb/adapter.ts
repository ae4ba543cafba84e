/**
 * The MongoDB adapter: the MongoPort over the official driver.
 *
 * Everything the reaper sends runs in ONE explicit session, so the reaper knows its own lsid and the
 * policy can protect it. Session listings are read a server batch at a time as raw BSON (raw-cursor.ts);
 * $currentOp is projected down to the fields the inventory reads (its documents carry whole commands).
 */
import { createHash } from 'node:crypto';
import { Binary, BSON, MongoClient, type ClientSession, type Document, type MongoClientOptions } from 'mongodb';
import { MongoStageError } from '../../util/errors.ts';
import type { Activity, ListedSession, MongoPort, ReaperIdentity, SessionKey } from '../../pass/ports.ts';
import { redactConnectionString, redactUri } from '../../util/redact.ts';
import { commandBatches } from './raw-cursor.ts';
import { CURRENT_OP_PROJECTION, CURRENT_OP_UNSET, toActivity, uuidString } from './activity.ts';
import { readListedSession } from './session-doc-reader.ts';

export { CURRENT_OP_PROJECTION, toActivity, toListedSession, truncatedCommandName } from './activity.ts';

/** The appName the reaper announces, so operators can see it in $currentOp and logs. */
export const REAPER_APP_NAME = 'mongodb-session-reaper';

function uuidBytes(id: string): Buffer {
  const hex = id.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new MongoStageError(`session id "${id}" is not a UUID`);
  return Buffer.from(hex, 'hex');
}

/** killSessions elements: always {id, uid} (a bare id would default to the reaper's own uid). */
export function killSessionsCommand(batch: readonly SessionKey[]): Document {
  if (batch.length === 0) {
    // `killSessions: []` means "every session I may kill": never send it.
    throw new MongoStageError('refusing to send an empty killSessions batch: it would kill every session the reaper may kill');
  }
  return {
    killSessions: batch.map((k) => {
      if (!/^[0-9a-f]{64}$/.test(k.uid)) throw new MongoStageError(`session ${k.id} has no valid uid ("${k.uid}"); a bare id only matches the reaper's own sessions`);
      return { id: new Binary(uuidBytes(k.id), Binary.SUBTYPE_UUID), uid: new Binary(Buffer.from(k.uid, 'hex'), Binary.SUBTYPE_DEFAULT) };
    }),
  };
}

/** The listings whose raw documents a tap receives. */
export type RawListing = 'listSessions' | 'listLocalSessions' | 'currentOp';

/** Receives every raw document a listing returns, as the server sent it (snapshots record them: src/adapters/snapshot/). */
export type RawDocumentTap = (listing: RawListing, bson: Uint8Array) => void;

export class MongoAdapter implements MongoPort {
  private trips = 0;
  private session: ClientSession | null = null;
  private tap: RawDocumentTap | null = null;

  private constructor(readonly client: MongoClient, private readonly ownsClient: boolean) {
    client.on('commandStarted', () => this.trips++);
  }

  /** Connects with command monitoring on (to count round trips) and the reaper's appName. */
  static async connect(uri: string, options: MongoClientOptions = {}): Promise<MongoAdapter> {
    let client: MongoClient | undefined;
    try {
      // Inside the try: the driver parses the string in the constructor, and its parse errors need the same wording.
      client = new MongoClient(uri, { appName: REAPER_APP_NAME, monitorCommands: true, serverSelectionTimeoutMS: 10_000, ...options });
      await client.connect();
    } catch (e) {
      await client?.close().catch(() => {});
      // The driver's own message is free text that may quote the string back: redacted too.
      throw new MongoStageError(`cannot connect to ${redactConnectionString(uri)}: ${redactUri((e as Error).message)}; check the connection string, the network path and the credentials`, { cause: e });
    }
    return new MongoAdapter(client, true);
  }

  /** Wraps a client created elsewhere (a Lambda's module-scope client); it must have monitorCommands on to count round trips. */
  static wrap(client: MongoClient): MongoAdapter {
    return new MongoAdapter(client, false);
  }

  private ownSession(): ClientSession {
    if (!this.session || this.session.hasEnded) this.session = this.client.startSession({ causalConsistency: false });
    return this.session;
  }

  async identity(): Promise<ReaperIdentity> {
    const session = this.ownSession();
    const status = await this.client.db('admin').command({ connectionStatus: 1 }, { session });
    const u = status.authInfo?.authenticatedUsers?.[0];
    const user = u ? `${u.user}@${u.db}` : '';
    return {
      sessionId: uuidString(session.id?.id),
      uid: createHash('sha256').update(user).digest('hex'),
      user,
    };
  }

  /**
   * Hands every raw document of the listings to `tap` too (null: no more). While tapped, $currentOp is read
   * whole (no projection) and raw, so that what is recorded is what the server sent.
   */
  tapRawDocuments(tap: RawDocumentTap | null): void {
    this.tap = tap;
  }

  private listingReader(listing: RawListing): (bytes: Buffer) => ListedSession {
    const tap = this.tap;
    return tap ? (bytes) => (tap(listing, bytes), readListedSession(bytes)) : readListedSession;
  }

  async *listSessions(): AsyncIterable<ListedSession[]> {
    const command = { aggregate: 'system.sessions', pipeline: [{ $listSessions: { allUsers: true } }], cursor: {} };
    yield* commandBatches(this.client.db('config'), command, this.ownSession(), this.listingReader('listSessions'));
  }

  async *listLocalSessions(): AsyncIterable<ListedSession[]> {
    const command = { aggregate: 1, pipeline: [{ $listLocalSessions: { allUsers: true } }], cursor: {} };
    yield* commandBatches(this.client.db('admin'), command, this.ownSession(), this.listingReader('listLocalSessions'));
  }

  async *currentOp(): AsyncIterable<Activity[]> {
    const tap = this.tap;
    const stage = { $currentOp: { allUsers: true, idleSessions: true, idleCursors: true } };
    // Tapped (a snapshot is being recorded): the documents whole and raw, as the server sent them; else only
    // what toActivity reads.
    const pipeline = tap ? [stage] : [stage, { $project: CURRENT_OP_PROJECTION }, { $unset: CURRENT_OP_UNSET }];
    const cursor = this.client.db('admin').aggregate(pipeline, { session: this.ownSession(), ...(tap ? { raw: true } : {}) });
    while (await cursor.hasNext()) {
      const docs = cursor.readBufferedDocuments();
      // Raw documents are deserialised with the driver's default options, so toActivity sees what it sees untapped.
      yield tap ? docs.map((bytes) => (tap('currentOp', bytes as unknown as Uint8Array), toActivity(BSON.deserialize(bytes as unknown as Uint8Array)))) : docs.map(toActivity);
    }
  }

  async killSessions(batch: readonly SessionKey[]): Promise<void> {
    await this.client.db('admin').command(killSessionsCommand(batch), { session: this.ownSession() });
  }

  async killOp(opid: string): Promise<void> {
    // Through mongos the opid is "shard:opid" and is passed as that string (docs/server-semantics.md#through-mongos).
    const op = /^-?\d+$/.test(opid) ? Number(opid) : opid;
    await this.client.db('admin').command({ killOp: 1, op }, { session: this.ownSession() });
  }

  roundTrips(): number {
    return this.trips;
  }

  async close(): Promise<void> {
    await this.session?.endSession().catch(() => {});
    this.session = null;
    if (this.ownsClient) await this.client.close();
  }
}
