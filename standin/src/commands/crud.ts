/**
 * CRUD and cursors: insert, find, getMore, killCursors, update, delete, count, aggregate, create, drop,
 * listCollections, listDatabases, dropDatabase, and the legacy currentOp command.
 *
 * Enough for demo workloads and for the listing stages. Cursor rules that matter for sessions:
 *  - a cursor belongs to the session that created it; getMore from another session or without one fails
 *    (50737 / 50738, src/mongo/db/commands/getmore_cmd.cpp validateLSID);
 *  - a killed or removed cursor answers getMore with 43 CursorNotFound "cursor id <N> not found".
 * First batches default to 101 documents (query_request_helper kDefaultBatchSize); getMore batches are
 * bounded by the 16 MiB reply size (maxBsonObjectSize).
 */
import { BSON, Long, ObjectId, type Document } from 'bson';
import { CommandError } from '../errors.ts';
import { bsonTypeName, expectArray, expectDoc, isDoc, isNumber, toNumber, wrongType } from '../idl.ts';
import { currentOp, listLocalSessions, listSessions, parseCurrentOpSpec, parseListSessionsSpec, rawSessionSource } from '../listing.ts';
import { documentSource, rawCursorReply, DEFAULT_FIRST_BATCH, type Batch, type BatchSource } from '../batches.ts';
import type { CommandContext, CommandDef } from '../mongod.ts';
import { formatUuid } from '../sessions.ts';
import { Collection, duplicateKeyMessage } from '../storage.ts';
import type { Cursor } from '../cursors.ts';
import { compileFilter, refuseReservedNames } from '../mql.ts';
import { runPipeline } from '../mql-stages.ts';
import { applyUpdate, upsertSeed } from '../mql-updates.ts';
import { changeStreamGetMore, isChangeStreamCursor, openChangeStream, recordChange } from '../change-streams.ts';
import { isOutputStage, writeOutput } from '../output-stages.ts';


export function collectionName(ctx: CommandContext, field: string): string {
  const v = ctx.cmd[field];
  if (typeof v !== 'string') throw new CommandError(73, 'InvalidNamespace', `collection name has invalid type ${bsonTypeName(v)}`);
  if (v.length === 0) throw new CommandError(73, 'InvalidNamespace', `Invalid namespace specified '${ctx.db}.'`);
  return v;
}

export function requireAction(ctx: CommandContext, coll: string, action: string): void {
  ctx.mongod.requirePrivilege(ctx, { db: ctx.db, collection: coll }, action);
}

/** The documents a statement sees: committed data with the transaction's own writes on top. */
function* visibleDocs(ctx: CommandContext, coll: string): Generator<Document> {
  const live = ctx.mongod.storage.get(ctx.db, coll);
  const overlay = ctx.txn?.writes.get(`${ctx.db}.${coll}`);
  if (live) {
    for (const [key, doc] of live.docs) {
      if (overlay?.has(key)) continue;
      yield doc;
    }
  }
  if (overlay) for (const doc of overlay.values()) if (doc) yield doc;
}

/** Whether a document with this _id key is visible to the statement (an O(1) look-up, not a scan). */
function visibleHas(ctx: CommandContext, coll: string, key: string): boolean {
  const overlay = ctx.txn?.writes.get(`${ctx.db}.${coll}`);
  if (overlay?.has(key)) return overlay.get(key) !== null;
  return ctx.mongod.storage.get(ctx.db, coll)?.docs.has(key) ?? false;
}

/** Writes go to the transaction's write set inside a transaction, to the collection otherwise. */
function writeDoc(ctx: CommandContext, coll: string, key: string, doc: Document | null): void {
  if (ctx.txn) {
    const ns = `${ctx.db}.${coll}`;
    let overlay = ctx.txn.writes.get(ns);
    if (!overlay) ctx.txn.writes.set(ns, (overlay = new Map()));
    overlay.set(key, doc);
    return;
  }
  const c = ctx.mongod.storage.getOrCreate(ctx.db, coll);
  recordChange(ctx.mongod, ctx.db, coll, c.docs.get(key) ?? null, doc);
  if (doc) c.docs.set(key, doc);
  else c.docs.delete(key);
  ctx.mongod.noteWrite();
}

export function commitWrites(ctx: CommandContext): void {
  if (!ctx.txn) return;
  for (const [ns, overlay] of ctx.txn.writes) {
    const dot = ns.indexOf('.');
    const c = ctx.mongod.storage.getOrCreate(ns.slice(0, dot), ns.slice(dot + 1));
    for (const [key, doc] of overlay) {
      recordChange(ctx.mongod, c.db, c.name, c.docs.get(key) ?? null, doc);
      if (doc) c.docs.set(key, doc);
      else c.docs.delete(key);
    }
  }
  if (ctx.txn.writes.size) ctx.mongod.noteWrite();
  ctx.txn.writes.clear();
}

/**
 * A safeInt64 option with the IDL's `validator: { gte: 0 }` (find_command.idl skip, limit, batchSize;
 * aggregate cursor.batchSize; getMore batchSize). Wrong type: TypeMismatch(14) "BSON field '<Struct>.<field>'
 * is the wrong type '<t>', expected types '[long, int, decimal, double']" (the stray quote is the server's,
 * idl_parser.cpp); negative: 51024 "BSON field '<field>' value must be >= 0, actual value '<n>'", where the
 * range message carries no struct prefix. Doubles are truncated (BSONElement::safeNumberLong). Null counts
 * as absent.
 */
function nonNegativeInt64(v: unknown, struct: string, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isNumber(v)) {
    throw new CommandError(14, 'TypeMismatch', `BSON field '${struct}.${field}' is the wrong type '${bsonTypeName(v)}', expected types '[long, int, decimal, double']`);
  }
  const n = Math.trunc(toNumber(v));
  if (n < 0) throw new CommandError(51024, 'Location51024', `BSON field '${field}' value must be >= 0, actual value '${n}'`);
  return n;
}

/**
 * batchSize: in find/aggregate, absent means 101 and 0 means an empty first batch (the cursor is only
 * established); in getMore, absent or 0 means as many as fit in the reply (null here).
 */
export function batchSizeOf(v: unknown, struct: string, dflt: number | null): number | null {
  const n = nonNegativeInt64(v, struct, 'batchSize');
  if (n === undefined) return dflt;
  return n === 0 && dflt === null ? null : n;
}

/** Serialises a batch: documents go into the reply document, raw elements into a hand-built reply. */
export function batchReply(kind: 'firstBatch' | 'nextBatch', batch: Batch, id: Long, ns: string): Document {
  if (batch.raw) return { $rawReply: rawCursorReply(kind, batch.raw, id, ns), ok: 1 };
  return { cursor: { [kind]: batch.docs, id, ns }, ok: 1 };
}

/** Opens a cursor for the remainder of a result (or returns id 0 when the first batch exhausted it). */
export function cursorReply(ctx: CommandContext, ns: string, source: BatchSource, batchSize: number | null, singleBatch = false, onOpen?: (cursor: Cursor) => void): Document {
  const first = source.next(batchSize);
  let id = Long.fromNumber(0);
  if (!first.exhausted && !singleBatch) {
    const m = ctx.mongod;
    const now = new Date(ctx.now);
    const cursor = m.cursors.open({
      ns, session: ctx.session, owner: m.params.auth ? m.userName(ctx.conn) : null, txn: ctx.txn,
      originatingCommand: ctx.cmd, createdDate: now, noCursorTimeout: ctx.cmd.noCursorTimeout === true, source,
      tailable: ctx.cmd.tailable === true, awaitData: ctx.cmd.awaitData === true,
    });
    cursor.nDocsReturned = first.count;
    cursor.nBatchesReturned = 1;
    id = cursor.id;
    onOpen?.(cursor);
  }
  return batchReply('firstBatch', first, id, ns);
}

function findSource(ctx: CommandContext, coll: string): Iterable<Document> {
  // config.system.sessions is backed by the session records (what $listSessions matches over).
  if (ctx.db === 'config' && coll === 'system.sessions') {
    return listSessions(ctx.mongod, { allUsers: true, uids: null });
  }
  return visibleDocs(ctx, coll);
}

export function runAggregate(ctx: CommandContext): Document | Promise<Document> {
  const m = ctx.mongod;
  const target = ctx.cmd.aggregate;
  const pipeline = expectArray(ctx.cmd.pipeline, 'aggregate.pipeline') as Document[];
  if (ctx.cmd.cursor === undefined && ctx.cmd.explain !== true) {
    throw new CommandError(9, 'FailedToParse', "The 'cursor' option is required, except for aggregate with the explain argument");
  }
  const cursorOpts = ctx.cmd.cursor === undefined ? {} : expectDoc(ctx.cmd.cursor, 'aggregate.cursor');
  const batchSize = batchSizeOf(cursorOpts.batchSize, 'aggregate.cursor', DEFAULT_FIRST_BATCH);
  const collectionless = target === 1 || (isNumber(target) && toNumber(target) === 1);
  if (!collectionless && typeof target !== 'string') throw wrongType('aggregate.aggregate', target, 'string');
  const firstStage = pipeline[0] && isDoc(pipeline[0]) ? Object.keys(pipeline[0])[0] : undefined;
  for (let i = 1; i < pipeline.length; i++) {
    const k = isDoc(pipeline[i]) ? Object.keys(pipeline[i])[0] : undefined;
    if (k === '$listSessions' || k === '$listLocalSessions' || k === '$currentOp') {
      // document_source_list_sessions.cpp: 40602 "... is only valid as the first stage in a pipeline."
      throw new CommandError(40602, 'Location40602', `${k} is only valid as the first stage in a pipeline.`);
    }
  }
  let source: Iterable<Document>;
  let ns: string;
  let rest = pipeline;
  if (firstStage === '$changeStream') return openChangeStream(ctx, pipeline, target, batchSize);
  if (firstStage === '$listSessions') {
    if (ctx.db !== 'config' || target !== 'system.sessions') {
      throw new CommandError(73, 'InvalidNamespace', '$listSessions may only be run against config.system.sessions');
    }
    const spec = parseListSessionsSpec(m, ctx.conn, '$listSessions', pipeline[0].$listSessions);
    ns = 'config.system.sessions';
    rest = pipeline.slice(1);
    if (rest.length === 0) return cursorReply(ctx, ns, rawSessionSource(m, spec, 'persisted'), batchSize);
    source = listSessions(m, spec);
  } else if (firstStage === '$listLocalSessions') {
    if (!collectionless) {
      throw new CommandError(73, 'InvalidNamespace', '$listLocalSessions must be run against the database with {aggregate: 1}, not a collection');
    }
    const spec = parseListSessionsSpec(m, ctx.conn, '$listLocalSessions', pipeline[0].$listLocalSessions);
    ns = `${ctx.db}.$cmd.aggregate`;
    rest = pipeline.slice(1);
    if (rest.length === 0) return cursorReply(ctx, ns, rawSessionSource(m, spec, 'local'), batchSize);
    source = listLocalSessions(m, spec);
  } else if (firstStage === '$currentOp') {
    if (ctx.db !== 'admin' || !collectionless) {
      throw new CommandError(73, 'InvalidNamespace', "$currentOp must be run against the 'admin' database with {aggregate: 1}");
    }
    // Materialised now, as the server snapshots the clients when the stage first runs.
    source = [...currentOp(m, ctx.conn, parseCurrentOpSpec(m, ctx.conn, pipeline[0].$currentOp), ctx.now)];
    ns = 'admin.$cmd.aggregate';
    rest = pipeline.slice(1);
  } else {
    if (collectionless) {
      throw new CommandError(73, 'InvalidNamespace', `{aggregate: 1} is not valid for '${firstStage ?? 'an empty pipeline'}'; a collection is required.`);
    }
    requireAction(ctx, target as string, 'find');
    source = findSource(ctx, target as string);
    ns = `${ctx.db}.${target}`;
  }
  if (ctx.txn && (firstStage === '$listSessions' || firstStage === '$listLocalSessions' || firstStage === '$currentOp')) {
    throw new CommandError(263, 'OperationNotSupportedInTransaction', `Operation not permitted in transaction :: caused by :: ${firstStage} is not allowed in transactions`);
  }
  const last = rest[rest.length - 1];
  if (isOutputStage(last)) return writeOutput(ctx, runPipeline(source, rest.slice(0, -1), { now: new Date(ctx.now) }), last!, ns);
  const out = runPipeline(source, rest, { now: new Date(ctx.now) })[Symbol.iterator]();
  return cursorReply(ctx, ns, documentSource(out), batchSize);
}

/**
 * A delete's `limit`: required, and 0 (all matches) or 1 (the first), read as a double so that 0.5 is refused
 * (write_ops.cpp readMultiDeleteProperty: FailedToParse(9) "The limit field in delete objects must be 0 or 1.
 * Got <n>"). A non-number reads as 0, as BSONElement::numberDouble does.
 */
function deleteLimit(v: unknown): 0 | 1 {
  if (v === undefined) throw new CommandError(40414, 'Location40414', "BSON field 'delete.deletes.limit' is missing but a required field");
  const n = isNumber(v) ? toNumber(v) : 0;
  if (n !== 0 && n !== 1) throw new CommandError(9, 'FailedToParse', `The limit field in delete objects must be 0 or 1. Got ${n}`);
  return n;
}

export function findCursor(ctx: CommandContext, id: unknown): Cursor {
  const cursor = isNumber(id) ? ctx.mongod.cursors.get(id instanceof Long ? id : Long.fromNumber(toNumber(id))) : undefined;
  if (!cursor) throw new CommandError(43, 'CursorNotFound', `cursor id ${String(id)} not found`);
  return cursor;
}

/**
 * The checks of a getMore on a cursor, before any batch: its namespace, its owner and its session
 * (getmore_cmd.cpp validateLSID). The router's getMore makes the same checks on its router cursors.
 */
export function validateGetMore(ctx: CommandContext, cursor: Cursor, coll: string): void {
  const m = ctx.mongod;
  if (cursor.ns !== `${ctx.db}.${coll}` && !(cursor.ns.endsWith('.$cmd.aggregate') && cursor.ns.startsWith(`${ctx.db}.`))) {
    throw new CommandError(13, 'Unauthorized', `Requested getMore on namespace '${ctx.db}.${coll}', but cursor belongs to a different namespace ${cursor.ns}`);
  }
  if (m.params.auth && cursor.owner !== m.userName(ctx.conn)) {
    throw new CommandError(13, 'Unauthorized', `cursor id ${cursor.key} was not created by the authenticated user`);
  }
  // getmore_cmd.cpp validateLSID
  if (cursor.session && !ctx.session) {
    throw new CommandError(50737, 'Location50737', `Cannot run getMore on cursor ${cursor.key}, which was created in session ${formatUuid(cursor.session.idHex)} - ${cursor.session.uidHex}, without an lsid`);
  }
  if (cursor.session && ctx.session && cursor.session !== ctx.session) {
    throw new CommandError(50738, 'Location50738', `Cannot run getMore on cursor ${cursor.key}, which was created in session ${formatUuid(cursor.session.idHex)} - ${cursor.session.uidHex}, in session ${formatUuid(ctx.session.idHex)} - ${ctx.session.uidHex}`);
  }
  if (!cursor.session && ctx.session) {
    throw new CommandError(50736, 'Location50736', `Cannot run getMore on cursor ${cursor.key}, which was not created in a session, in session ${formatUuid(ctx.session.idHex)} - ${ctx.session.uidHex}`);
  }
}

/** The next batch of an open cursor, its bookkeeping, and the cursor closed once exhausted. */
export function nextBatchReply(ctx: CommandContext, cursor: Cursor, batchSize: number | null): Document {
  const m = ctx.mongod;
  const batch = cursor.source.next(batchSize);
  cursor.lastAccessDate = new Date(m.now());
  cursor.nDocsReturned += batch.count;
  cursor.nBatchesReturned++;
  let outId = cursor.id;
  if (batch.exhausted) {
    m.cursors.close(cursor);
    outId = Long.fromNumber(0);
  }
  return batchReply('nextBatch', batch, outId, cursor.ns);
}

/** A getMore's cursor, checked (validateGetMore), and its batch size (absent or 0: as many as fit). */
export function getMoreCursor(ctx: CommandContext): { cursor: Cursor; batchSize: number | null } {
  const id = ctx.cmd.getMore;
  if (!(id instanceof Long) && !isNumber(id)) throw wrongType('getMore.getMore', id, 'long');
  const coll = typeof ctx.cmd.collection === 'string' ? ctx.cmd.collection : '';
  const cursor = findCursor(ctx, id);
  validateGetMore(ctx, cursor, coll);
  return { cursor, batchSize: batchSizeOf(ctx.cmd.batchSize, 'getMore', null) };
}

/**
 * killCursors: each cursor named is closed if the caller owns it or has killAnyCursor (else the generic 13);
 * `also` runs for each one closed (the router kills the shard cursors behind a router cursor).
 */
export async function killCursors(ctx: CommandContext, also: (cursor: Cursor) => void | Promise<void>): Promise<Document> {
  const m = ctx.mongod;
  const ids = expectArray(ctx.cmd.cursors, 'killCursors.cursors');
  const killed: Long[] = [];
  const notFound: Long[] = [];
  for (const raw of ids) {
    const id = raw instanceof Long ? raw : Long.fromNumber(toNumber(raw));
    const cursor = m.cursors.get(id);
    if (!cursor) {
      notFound.push(id);
      continue;
    }
    if (m.params.auth && cursor.owner !== m.userName(ctx.conn) && !m.can(ctx.conn, { cluster: true }, 'killAnyCursor')) {
      throw m.notAuthorized(ctx.db, ctx.cmd);
    }
    m.cursors.close(cursor);
    await also(cursor);
    killed.push(id);
  }
  return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
}

export const crudCommands: CommandDef[] = [
  {
    names: ['insert'], secondaryAllowed: 'never', allowedInTransaction: true, opType: 'insert',
    run: (ctx) => {
      const coll = collectionName(ctx, 'insert');
      requireAction(ctx, coll, 'insert');
      const docs = expectArray(ctx.cmd.documents, 'insert.documents');
      const writeErrors: Document[] = [];
      let n = 0;
      const ordered = ctx.cmd.ordered !== false;
      for (let i = 0; i < docs.length; i++) {
        const doc = expectDoc(docs[i], `insert.documents.${i}`);
        refuseReservedNames(doc, `insert.documents.${i}`);
        const stored = doc._id === undefined ? { _id: new ObjectId(), ...doc } : doc;
        const key = Collection.idKey(stored._id);
        if (visibleHas(ctx, coll, key)) {
          writeErrors.push({ index: i, code: 11000, errmsg: duplicateKeyMessage(`${ctx.db}.${coll}`, stored._id) });
          if (ordered) break;
          continue;
        }
        writeDoc(ctx, coll, key, stored);
        n++;
      }
      return writeErrors.length ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
    },
  },
  {
    names: ['find'], secondaryAllowed: 'optIn', allowedInTransaction: true, opType: 'query',
    run: (ctx) => {
      const coll = collectionName(ctx, 'find');
      requireAction(ctx, coll, 'find');
      const c = ctx.cmd;
      const stages: Document[] = [];
      if (c.filter !== undefined) stages.push({ $match: expectDoc(c.filter, 'find.filter') });
      if (c.sort !== undefined && Object.keys(expectDoc(c.sort, 'find.sort')).length) stages.push({ $sort: c.sort });
      const skip = nonNegativeInt64(c.skip, 'FindCommandRequest', 'skip');
      const limit = nonNegativeInt64(c.limit, 'FindCommandRequest', 'limit');
      const batchSize = batchSizeOf(c.batchSize, 'FindCommandRequest', DEFAULT_FIRST_BATCH);
      if (skip) stages.push({ $skip: skip });
      if (limit) stages.push({ $limit: limit });
      if (c.projection !== undefined && Object.keys(expectDoc(c.projection, 'find.projection')).length) stages.push({ $project: c.projection });
      const out = runPipeline(findSource(ctx, coll), stages, { now: new Date(ctx.now) })[Symbol.iterator]();
      return cursorReply(ctx, `${ctx.db}.${coll}`, documentSource(out), batchSize, c.singleBatch === true);
    },
  },
  {
    names: ['getMore'], secondaryAllowed: 'always', allowedInTransaction: true, opType: 'getmore',
    run: async (ctx) => {
      const m = ctx.mongod;
      const { cursor, batchSize } = getMoreCursor(ctx);
      cursor.pinned = true;
      ctx.op.details = { cursor }; // $currentOp shows the cursor a getMore runs on
      try {
        if (isChangeStreamCursor(m, cursor)) return await changeStreamGetMore(ctx, cursor, batchSize);
        return nextBatchReply(ctx, cursor, batchSize);
      } finally {
        cursor.pinned = false;
      }
    },
  },
  {
    names: ['killCursors'], secondaryAllowed: 'always', allowedInTransaction: true, opType: 'killcursors',
    run: (ctx) => killCursors(ctx, () => {}),
  },
  {
    names: ['update'], secondaryAllowed: 'never', allowedInTransaction: true, opType: 'update',
    run: (ctx) => {
      const coll = collectionName(ctx, 'update');
      requireAction(ctx, coll, 'update');
      const updates = expectArray(ctx.cmd.updates, 'update.updates');
      let n = 0;
      let nModified = 0;
      const upserted: Document[] = [];
      updates.forEach((u, index) => {
        const spec = expectDoc(u, `update.updates.${index}`);
        const q = spec.q === undefined ? {} : expectDoc(spec.q, 'update.updates.q');
        const updateSpec = Array.isArray(spec.u) ? (spec.u as Document[]) : expectDoc(spec.u, 'update.updates.u');
        const arrayFilters = spec.arrayFilters === undefined ? undefined : (expectArray(spec.arrayFilters, 'update.updates.arrayFilters') as Document[]);
        const match = compileFilter(q, 'update.updates.q', new Date(ctx.now));
        const targets = [...visibleDocs(ctx, coll)].filter(match);
        const chosen = spec.multi === true ? targets : targets.slice(0, 1);
        for (const doc of chosen) {
          const updated = applyUpdate(doc, updateSpec, { query: q, arrayFilters, now: new Date(ctx.now) });
          n++;
          if (Buffer.from(BSON.serialize(updated)).equals(BSON.serialize(doc))) continue;
          nModified++;
          writeDoc(ctx, coll, Collection.idKey(doc._id), updated);
        }
        if (chosen.length === 0 && spec.upsert === true) {
          requireAction(ctx, coll, 'insert');
          let doc = applyUpdate(upsertSeed(q), updateSpec, { isUpsert: true, arrayFilters, now: new Date(ctx.now) });
          if (doc._id === undefined) doc = { _id: new ObjectId(), ...doc };
          writeDoc(ctx, coll, Collection.idKey(doc._id), doc);
          upserted.push({ index, _id: doc._id });
          n++;
        }
      });
      return upserted.length ? { n, nModified, upserted, ok: 1 } : { n, nModified, ok: 1 };
    },
  },
  {
    names: ['delete'], secondaryAllowed: 'never', allowedInTransaction: true, opType: 'remove',
    run: (ctx) => {
      const coll = collectionName(ctx, 'delete');
      requireAction(ctx, coll, 'remove');
      const deletes = expectArray(ctx.cmd.deletes, 'delete.deletes');
      let n = 0;
      deletes.forEach((d, i) => {
        const spec = expectDoc(d, `delete.deletes.${i}`);
        const match = compileFilter(expectDoc(spec.q ?? {}, 'delete.deletes.q'), 'delete.deletes.q', new Date(ctx.now));
        const limit = deleteLimit(spec.limit);
        for (const doc of [...visibleDocs(ctx, coll)]) {
          if (!match(doc)) continue;
          writeDoc(ctx, coll, Collection.idKey(doc._id), null);
          n++;
          if (limit === 1) break;
        }
      });
      return { n, ok: 1 };
    },
  },
  {
    names: ['count'], secondaryAllowed: 'optIn', opType: 'command',
    run: (ctx) => {
      const coll = collectionName(ctx, 'count');
      requireAction(ctx, coll, 'find');
      const match = compileFilter(ctx.cmd.query === undefined ? {} : expectDoc(ctx.cmd.query, 'count.query'), 'count.query', new Date(ctx.now));
      let n = 0;
      for (const d of findSource(ctx, coll)) if (match(d)) n++;
      if (isNumber(ctx.cmd.skip)) n = Math.max(0, n - toNumber(ctx.cmd.skip));
      if (isNumber(ctx.cmd.limit) && toNumber(ctx.cmd.limit) > 0) n = Math.min(n, toNumber(ctx.cmd.limit));
      return { n, ok: 1 };
    },
  },
  { names: ['aggregate'], secondaryAllowed: 'optIn', allowedInTransaction: true, run: runAggregate },
  {
    names: ['create'], secondaryAllowed: 'never', allowedInTransaction: true,
    run: (ctx) => {
      const coll = collectionName(ctx, 'create');
      requireAction(ctx, coll, 'createCollection');
      if (ctx.mongod.storage.get(ctx.db, coll)) throw new CommandError(48, 'NamespaceExists', `Collection ${ctx.db}.${coll} already exists.`);
      ctx.mongod.storage.getOrCreate(ctx.db, coll);
      return { ok: 1 };
    },
  },
  {
    names: ['drop'], secondaryAllowed: 'never',
    run: (ctx) => {
      const coll = collectionName(ctx, 'drop');
      requireAction(ctx, coll, 'dropCollection');
      // Since 7.0 dropping a missing collection succeeds.
      ctx.mongod.storage.drop(ctx.db, coll);
      return { ns: `${ctx.db}.${coll}`, nIndexesWas: 1, ok: 1 };
    },
  },
  {
    names: ['dropDatabase'], secondaryAllowed: 'never',
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { db: ctx.db, collection: '' }, 'dropDatabase');
      ctx.mongod.storage.dropDatabase(ctx.db);
      return { dropped: ctx.db, ok: 1 };
    },
  },
  {
    names: ['listCollections'], secondaryAllowed: 'optIn',
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { db: ctx.db, collection: '' }, 'listCollections');
      const docs = ctx.mongod.storage.collections(ctx.db).map((c) => ({ name: c.name, type: 'collection', options: {}, info: { readOnly: false }, idIndex: { v: 2, key: { _id: 1 }, name: '_id_' } }));
      const filter = ctx.cmd.filter === undefined ? () => true : compileFilter(expectDoc(ctx.cmd.filter, 'listCollections.filter'));
      return { cursor: { id: Long.fromNumber(0), ns: `${ctx.db}.$cmd.listCollections`, firstBatch: docs.filter(filter) }, ok: 1 };
    },
  },
  {
    names: ['listDatabases'], secondaryAllowed: 'optIn', adminOnly: true,
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'listDatabases');
      const dbs = ctx.mongod.storage.databases().map((name) => ({ name, sizeOnDisk: 0, empty: false }));
      return { databases: ctx.cmd.nameOnly === true ? dbs.map((d) => ({ name: d.name })) : dbs, totalSize: 0, ok: 1 };
    },
  },
  {
    // The legacy command form: { currentOp: 1, $all?, $ownOps?, <filter fields> } -> { inprog: [...] }.
    names: ['currentOp'], secondaryAllowed: 'always', adminOnly: true,
    run: (ctx) => {
      const m = ctx.mongod;
      const filter: Document = {};
      for (const [k, v] of Object.entries(ctx.cmd)) {
        if (k === 'currentOp' || k.startsWith('$') || k === 'lsid' || k === 'comment') continue;
        filter[k] = v;
      }
      const all = ctx.cmd.$all === true;
      const ownOps = ctx.cmd.$ownOps === true;
      const opts = parseCurrentOpSpec(m, ctx.conn, { allUsers: !ownOps, idleConnections: all, idleSessions: all, idleCursors: false });
      const match = compileFilter(filter, 'currentOp filter', new Date(ctx.now));
      return { inprog: [...currentOp(m, ctx.conn, opts, ctx.now)].filter(match), ok: 1 };
    },
  },
];
