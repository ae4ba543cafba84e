/**
 * Change streams: `aggregate` with $changeStream as its first stage opens a tailable, awaitData cursor
 * (document_source_change_stream.cpp: "$changeStream is only valid as the first stage in a pipeline"); its
 * getMore waits up to maxTimeMS (the driver's maxAwaitTimeMS; 1 s when absent, the server's default await
 * time for awaitData cursors) for change events and returns them with resume tokens, and every reply carries
 * postBatchResumeToken, which the driver resumes from (change-streams spec).
 *
 * Events are kept in a bounded change log standing in for the oplog: a stream resumed (resumeAfter /
 * startAfter) from a token older than the log fails with ChangeStreamHistoryLost(286), as a resume point that
 * has left the oplog does. Killing the cursor (killSessions, killCursors) ends the stream: the next getMore gets
 * CursorNotFound(43), a resumable error for the driver, which re-opens the stream from its last token.
 */
import { Timestamp, type Document } from 'bson';
import type { BatchSource } from './batches.ts';
import type { Cursor } from './cursors.ts';
import { CommandError } from './errors.ts';
import { expectDoc, isDoc, isNumber, toNumber } from './idl.ts';
import type { CommandContext, Mongod } from './mongod.ts';
import { runPipeline } from './mql-stages.ts';

/** Events kept for resuming: the stand-in's oplog window. */
const CHANGE_LOG_LIMIT = 10_000;
/** Await time of an awaitData getMore without maxTimeMS (query/getmore_cmd.cpp: one second). */
const DEFAULT_AWAIT_MS = 1000;

interface ChangeEvent {
  seq: number;
  db: string;
  coll: string;
  doc: Document;
}

interface Stream {
  db: string;
  /** null: every collection of the database ({aggregate: 1}). */
  coll: string | null;
  /** Log sequence of the last event returned (or the start point). */
  lastSeq: number;
  /** Stages after $changeStream, applied to each batch. */
  rest: Document[];
  fullDocument: string;
  wake: (() => void) | null;
}

interface ChangeLog {
  events: ChangeEvent[];
  nextSeq: number;
  streams: Map<Cursor, Stream>;
}

const logs = new WeakMap<Mongod, ChangeLog>();

function logOf(m: Mongod): ChangeLog {
  let log = logs.get(m);
  if (!log) logs.set(m, (log = { events: [], nextSeq: 1, streams: new Map() }));
  return log;
}

/** A resume token: {_data: hex}, ordered as the events are (the server's are KeyString hex too). */
function tokenOf(seq: number): Document {
  return { _data: `82${seq.toString(16).toUpperCase().padStart(16, '0')}` };
}

function seqOfToken(token: unknown): number {
  const data = isDoc(token) ? token._data : undefined;
  if (typeof data !== 'string' || !/^82[0-9A-F]{16}$/i.test(data)) {
    throw new CommandError(9, 'FailedToParse', `Bad resume token: _data of missing or of wrong type. Expected string, got ${JSON.stringify(token)}`);
  }
  return parseInt(data.slice(2), 16);
}

/**
 * The write paths call this with the document before and after (null for none): insert, delete, or an
 * update with its top-level updatedFields / removedFields.
 */
export function recordChange(m: Mongod, db: string, coll: string, before: Document | null, after: Document | null): void {
  if (!before && !after) return;
  const log = logOf(m);
  if (log.streams.size === 0 && log.events.length === 0) {
    // Nothing watches and nothing could resume: no log to keep (the common case, and the benchmark's).
    log.nextSeq++;
    return;
  }
  const seq = log.nextSeq++;
  const now = Date.now();
  const id = (after ?? before)!._id;
  const doc: Document = {
    _id: tokenOf(seq),
    operationType: !before ? 'insert' : !after ? 'delete' : 'update',
    clusterTime: new Timestamp({ t: Math.floor(now / 1000), i: seq % 0x7fffffff }),
    wallTime: new Date(now),
    ns: { db, coll },
    documentKey: { _id: id },
  };
  if (!before) doc.fullDocument = after;
  else if (after) {
    const updatedFields: Document = {};
    for (const [k, v] of Object.entries(after)) if (JSON.stringify(before[k]) !== JSON.stringify(v)) updatedFields[k] = v;
    doc.updateDescription = { updatedFields, removedFields: Object.keys(before).filter((k) => !(k in after)), truncatedArrays: [] };
  }
  log.events.push({ seq, db, coll, doc });
  if (log.events.length > CHANGE_LOG_LIMIT) log.events.splice(0, log.events.length - CHANGE_LOG_LIMIT);
  for (const [cursor, stream] of log.streams) {
    if (m.cursors.get(cursor.id) !== cursor) log.streams.delete(cursor); // killed or closed: the stream is over
    else stream.wake?.();
  }
}

function pending(log: ChangeLog, stream: Stream, max: number): Document[] {
  const out: Document[] = [];
  for (const e of log.events) {
    if (e.seq <= stream.lastSeq) continue;
    if (e.db !== stream.db || (stream.coll !== null && e.coll !== stream.coll)) continue;
    out.push(stream.fullDocument === 'updateLookup' && e.doc.operationType === 'update' ? { ...e.doc, fullDocument: null } : e.doc);
    if (out.length >= max) break;
  }
  if (out.length) stream.lastSeq = seqOfToken(out[out.length - 1]!._id);
  return stream.rest.length ? [...runPipeline(out, stream.rest, { now: new Date() })] : out;
}

/** The high-water mark when a batch is empty: the log's end. */
function postBatchToken(log: ChangeLog, stream: Stream): Document {
  return tokenOf(Math.max(stream.lastSeq, log.nextSeq - 1));
}

const NEVER_EXHAUSTED: BatchSource = { next: () => ({ docs: [], raw: null, count: 0, exhausted: false }) };

/** `aggregate` with $changeStream first: validates the spec and opens the stream's cursor. */
export function openChangeStream(ctx: CommandContext, pipeline: Document[], target: unknown, batchSize: number | null): Document {
  const m = ctx.mongod;
  const spec = expectDoc(pipeline[0]!.$changeStream, '$changeStream');
  const allowed = ['fullDocument', 'fullDocumentBeforeChange', 'resumeAfter', 'startAfter', 'startAtOperationTime', 'allChangesForCluster', 'showExpandedEvents', 'allowToRunOnConfigDB', 'allowToRunOnSystemNS'];
  for (const k of Object.keys(spec)) {
    if (!allowed.includes(k)) throw new CommandError(40415, 'Location40415', `BSON field '$changeStream.${k}' is an unknown field.`);
  }
  const coll = typeof target === 'string' ? target : null;
  if (ctx.txn) throw new CommandError(263, 'OperationNotSupportedInTransaction', 'Operation not permitted in transaction :: caused by :: $changeStream is not allowed in transactions');
  if (coll !== null) ctx.mongod.requirePrivilege(ctx, { db: ctx.db, collection: coll }, 'changeStream');
  const log = logOf(m);
  let lastSeq = log.nextSeq - 1;
  const resume = spec.resumeAfter ?? spec.startAfter;
  if (resume !== undefined) {
    lastSeq = seqOfToken(resume);
    const oldest = log.events[0]?.seq ?? log.nextSeq;
    if (lastSeq + 1 < oldest) {
      throw new CommandError(286, 'ChangeStreamHistoryLost', 'Resume of change stream was not possible, as the resume point may no longer be in the oplog.');
    }
  }
  const stream: Stream = {
    db: ctx.db, coll, lastSeq, rest: pipeline.slice(1), wake: null,
    fullDocument: typeof spec.fullDocument === 'string' ? spec.fullDocument : 'default',
  };
  const ns = coll !== null ? `${ctx.db}.${coll}` : `${ctx.db}.$cmd.aggregate`;
  const cursor = m.cursors.open({
    ns, session: ctx.session, owner: m.params.auth ? m.userName(ctx.conn) : null, txn: null, originatingCommand: ctx.cmd,
    createdDate: new Date(ctx.now), noCursorTimeout: false, tailable: true, awaitData: true, source: NEVER_EXHAUSTED,
  });
  log.streams.set(cursor, stream);
  const firstBatch = pending(log, stream, batchSize ?? Infinity);
  cursor.nDocsReturned = firstBatch.length;
  cursor.nBatchesReturned = 1;
  return { cursor: { firstBatch, postBatchResumeToken: postBatchToken(log, stream), id: cursor.id, ns }, ok: 1 };
}

export function isChangeStreamCursor(m: Mongod, cursor: Cursor): boolean {
  return logs.get(m)?.streams.has(cursor) ?? false;
}

/** getMore on a stream: what is there, or the first events to arrive within the await time. */
export async function changeStreamGetMore(ctx: CommandContext, cursor: Cursor, batchSize: number | null): Promise<Document> {
  const log = logOf(ctx.mongod);
  const stream = log.streams.get(cursor)!;
  const awaitMs = isNumber(ctx.cmd.maxTimeMS) ? toNumber(ctx.cmd.maxTimeMS) : DEFAULT_AWAIT_MS;
  let batch = pending(log, stream, batchSize ?? Infinity);
  if (batch.length === 0 && awaitMs > 0) {
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve) => {
      stream.wake = resolve;
      timer = setTimeout(resolve, awaitMs);
    });
    try {
      const killed = await Promise.race([arrived.then(() => null), ctx.op.interrupted]);
      if (killed) throw killed;
    } finally {
      clearTimeout(timer);
      stream.wake = null;
    }
    if (ctx.mongod.cursors.get(cursor.id) !== cursor) throw new CommandError(43, 'CursorNotFound', `cursor id ${cursor.key} not found`);
    batch = pending(log, stream, batchSize ?? Infinity);
  }
  cursor.lastAccessDate = new Date();
  cursor.nDocsReturned += batch.length;
  cursor.nBatchesReturned++;
  return { cursor: { nextBatch: batch, postBatchResumeToken: postBatchToken(log, stream), id: cursor.id, ns: cursor.ns }, ok: 1 };
}


