/**
 * Cursor commands run through the driver's public command API, their batches handed over as raw BSON.
 *
 * The listings are the biggest thing a pass reads (a million sessions on a big server), and building a
 * JS object per document costs more than the rest of the inventory together. So the reply is deserialised
 * with `fieldsAsRaw` (a documented BSON deserialize option) for the batch arrays: each document arrives as
 * a Buffer view into the reply, which the caller reads field by field (session-doc-reader.ts). getMore and,
 * when the reader stops early, killCursors are sent as commands too, in the same session.
 *
 * Reply shape (the server's cursor response, src/mongo/db/query/cursor_response.cpp):
 *   { cursor: { id: Long, ns: "db.coll", firstBatch | nextBatch: [ ... ] }, ok: 1 }
 * `promoteLongs: false` keeps the cursor id a Long: ids are 64-bit and a double would corrupt them.
 */
import { Long, type ClientSession, type Db, type Document } from 'mongodb';
import { MongoStageError } from '../../util/errors.ts';

const RAW_BATCHES = { fieldsAsRaw: { firstBatch: true, nextBatch: true }, promoteLongs: false } as const;

interface CursorReply {
  cursor?: { id?: unknown; ns?: unknown; firstBatch?: unknown; nextBatch?: unknown };
}

function cursorOf(reply: Document, command: string): { id: Long; ns: string; batch: Buffer[] } {
  const c = (reply as CursorReply).cursor;
  const batch = c?.firstBatch ?? c?.nextBatch;
  if (!c || !(c.id instanceof Long) || typeof c.ns !== 'string' || !Array.isArray(batch)) {
    throw new MongoStageError(`the reply to ${command} is not a cursor reply ({cursor: {id, ns, firstBatch|nextBatch}})`);
  }
  return { id: c.id, ns: c.ns, batch: batch as Buffer[] };
}

/**
 * Runs a cursor-creating command (aggregate) and yields its documents a server batch at a time, each read by
 * `read` from its raw bytes. Per batch, not per document, so a million documents cost ~ten thousand yields.
 */
export async function* commandBatches<T>(db: Db, command: Document, session: ClientSession, read: (bytes: Buffer) => T): AsyncIterable<T[]> {
  const name = Object.keys(command)[0] ?? 'command';
  let cursor = cursorOf(await db.command(command, { session, ...RAW_BATCHES }), name);
  const collection = cursor.ns.slice(cursor.ns.indexOf('.') + 1);
  try {
    for (;;) {
      const out = new Array<T>(cursor.batch.length);
      for (let i = 0; i < cursor.batch.length; i++) out[i] = read(cursor.batch[i]!);
      yield out;
      if (cursor.id.isZero()) return;
      cursor = cursorOf(await db.command({ getMore: cursor.id, collection }, { session, ...RAW_BATCHES }), 'getMore');
    }
  } finally {
    // The reader stopped early (an error, or it had what it needed): free the server's cursor.
    if (!cursor.id.isZero()) await db.command({ killCursors: collection, cursors: [cursor.id] }, { session }).catch(() => {});
  }
}
