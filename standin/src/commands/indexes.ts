/**
 * createIndexes, listIndexes and dropIndexes, with index builds as the server runs them since 4.4
 * (index_builds_coordinator_mongod.cpp, create_indexes.cpp):
 *  - the client's createIndexes operation waits for the build;
 *  - the build runs as its own operation with no client: desc "IndexBuildsCoordinatorMongod-<n>", the same
 *    command, msg "Index Build: scanning collection" and progress {done, total};
 *  - killing the client's operation (killOp, killSessions) or the build's aborts the whole build: no index is
 *    created and the client gets the interruption (jstests/noPassthrough/indexbg_killop_primary_after_init.js;
 *    the server logs "IndexBuildAborted: Index build aborted").
 * The build's simulated time is 10 µs per document scanned, and the hangAfterInitializingIndexBuild fail point
 * (the server's own name) holds it after initialisation for as long as it is on, as the jstests do.
 */
import { Long, type Document } from 'bson';
import { CommandError } from '../errors.ts';
import { expectArray, expectDoc, isDoc } from '../idl.ts';
import type { CommandContext, CommandDef } from '../mongod.ts';
import type { Collection } from '../storage.ts';

/** Simulated scan cost per document, so a build on a big collection takes visible time. */
const BUILD_MICROS_PER_DOCUMENT = 10;
/** How often a held build looks at its fail point and its interruption (the server checks at yield points). */
const HOLD_POLL_MS = 10;

interface IndexSpec {
  v: number;
  key: Document;
  name: string;
  [option: string]: unknown;
}

const ID_INDEX: IndexSpec = { v: 2, key: { _id: 1 }, name: '_id_' };
const indexesOf = new WeakMap<Collection, Map<string, IndexSpec>>();
let buildThreads = 0;

function catalog(c: Collection): Map<string, IndexSpec> {
  let m = indexesOf.get(c);
  if (!m) indexesOf.set(c, (m = new Map([['_id_', ID_INDEX]])));
  return m;
}

function collectionArg(ctx: CommandContext): string {
  const coll = ctx.cmd[ctx.name];
  if (typeof coll !== 'string' || coll === '') throw new CommandError(73, 'InvalidNamespace', `collection name has invalid type ${typeof coll}`);
  return coll;
}

function parseSpec(raw: unknown, i: number): IndexSpec {
  const d = expectDoc(raw, `createIndexes.indexes.${i}`);
  if (!isDoc(d.key) || Object.keys(d.key).length === 0) throw new CommandError(9, 'FailedToParse', "The 'key' field is a required property of an index specification");
  if (typeof d.name !== 'string' || d.name === '') throw new CommandError(9, 'FailedToParse', "The 'name' field is a required property of an index specification");
  return { v: 2, ...d, key: d.key, name: d.name } as IndexSpec;
}

async function build(ctx: CommandContext, coll: Collection, specs: IndexSpec[]): Promise<void> {
  const m = ctx.mongod;
  const total = coll.docs.size;
  const buildOp = m.ops.start({
    client: null, session: null, command: { createIndexes: coll.name, indexes: specs, $db: ctx.db }, op: 'command', ns: coll.ns,
    effectiveUsers: [], txn: null, synthetic: false, startedAtMs: m.now(),
  });
  buildOp.details = { desc: `IndexBuildsCoordinatorMongod-${buildThreads++}`, msg: 'Index Build: scanning collection', progress: { done: 0, total } };
  m.log(`index build: starting on ${coll.ns} properties: ${JSON.stringify(specs.map((s) => s.key))}`);
  try {
    const scanMs = (total * BUILD_MICROS_PER_DOCUMENT) / 1000;
    const until = Date.now() + scanMs;
    for (;;) {
      const held = m.failPoints.isOn('hangAfterInitializingIndexBuild');
      const killed = ctx.op.killPending ?? buildOp.killPending;
      // The held build thread does not look at interruptions (pauseWhileSet without an opCtx), and the killed
      // client waits for the abort to reach it: until the fail point is lifted, $currentOp shows the client's
      // operation with killPending: true (what jstests/noPassthrough/indexbg_killop_primary_after_init.js sees).
      if (killed && !held) {
        m.log(`IndexBuildAborted: Index build aborted: ${coll.ns}: ${killed.message}`);
        // Killing either operation aborts the build; the client sees its own interruption.
        if (!ctx.op.killPending) ctx.op.interrupt(killed);
        throw ctx.op.killPending ?? killed;
      }
      if (!held && !killed && Date.now() >= until) break;
      buildOp.details.progress = { done: held ? 0 : Math.min(total, Math.round(total - ((until - Date.now()) * 1000) / BUILD_MICROS_PER_DOCUMENT)), total };
      const tick = new Promise((r) => setTimeout(r, HOLD_POLL_MS));
      await (killed ? tick : Promise.race([tick, ctx.op.interrupted, buildOp.interrupted]));
    }
    for (const s of specs) catalog(coll).set(s.name, s);
    m.log(`index build: done building ${coll.ns} ${specs.map((s) => s.name).join(', ')}`);
  } finally {
    m.ops.finish(buildOp);
  }
}

export const indexCommands: CommandDef[] = [
  {
    names: ['createIndexes'], secondaryAllowed: 'never', opType: 'command',
    run: async (ctx) => {
      const name = collectionArg(ctx);
      ctx.mongod.requirePrivilege(ctx, { db: ctx.db, collection: name }, 'createIndex');
      const specs = expectArray(ctx.cmd.indexes, 'createIndexes.indexes').map(parseSpec);
      if (specs.length === 0) throw new CommandError(2, 'BadValue', 'Must specify at least one index to create');
      const created = !ctx.mongod.storage.get(ctx.db, name);
      const coll = ctx.mongod.storage.getOrCreate(ctx.db, name);
      const existing = catalog(coll);
      const before = existing.size;
      const fresh = specs.filter((s) => !existing.has(s.name));
      for (const s of specs) {
        const have = existing.get(s.name);
        if (have && JSON.stringify(have.key) !== JSON.stringify(s.key)) {
          throw new CommandError(86, 'IndexKeySpecsConflict', `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${JSON.stringify(s)}, existing index: ${JSON.stringify(have)}`);
        }
      }
      if (fresh.length === 0) return { numIndexesBefore: before, numIndexesAfter: before, note: 'all indexes already exist', ok: 1 };
      await build(ctx, coll, fresh);
      return { numIndexesBefore: before, numIndexesAfter: existing.size, createdCollectionAutomatically: created, commitQuorum: 'votingMembers', ok: 1 };
    },
  },
  {
    names: ['listIndexes'], secondaryAllowed: 'optIn',
    run: (ctx) => {
      const name = collectionArg(ctx);
      ctx.mongod.requirePrivilege(ctx, { db: ctx.db, collection: name }, 'listIndexes');
      const coll = ctx.mongod.storage.get(ctx.db, name);
      if (!coll) throw new CommandError(26, 'NamespaceNotFound', `ns does not exist: ${ctx.db}.${name}`);
      return { cursor: { id: Long.fromNumber(0), ns: `${ctx.db}.$cmd.listIndexes.${name}`, firstBatch: [...catalog(coll).values()] }, ok: 1 };
    },
  },
  {
    names: ['dropIndexes'], secondaryAllowed: 'never',
    run: (ctx) => {
      const name = collectionArg(ctx);
      ctx.mongod.requirePrivilege(ctx, { db: ctx.db, collection: name }, 'dropIndex');
      const coll = ctx.mongod.storage.get(ctx.db, name);
      if (!coll) throw new CommandError(26, 'NamespaceNotFound', `ns not found ${ctx.db}.${name}`);
      const indexes = catalog(coll);
      const before = indexes.size;
      const which = ctx.cmd.index;
      const names = which === '*' ? [...indexes.keys()].filter((n) => n !== '_id_') : [typeof which === 'string' ? which : [...indexes.values()].find((s) => JSON.stringify(s.key) === JSON.stringify(which))?.name ?? ''];
      for (const n of names) {
        if (n === '_id_') throw new CommandError(72, 'InvalidOptions', 'cannot drop _id index');
        if (!indexes.delete(n)) throw new CommandError(27, 'IndexNotFound', `index not found with name [${String(which)}]`);
      }
      return { nIndexesWas: before, ok: 1 };
    },
  },
];
