/**
 * insert through the router (cluster_write.cpp, batch_write_exec.cpp): each document goes to its shard (the
 * owner of an unsharded collection, the shard of its hashed _id in a sharded one; the router gives a document
 * without _id one first, so that it can target it), one insert per shard, with the write errors' indexes mapped
 * back to the client's. Ordered: the per-shard batches go one after another and stop at the first that fails.
 */
import { ObjectId, type Document } from 'bson';
import { expectArray, expectDoc, isNumber, toNumber } from '../../idl.ts';
import type { CommandDef } from '../../mongod.ts';
import { collectionName } from '../crud.ts';
import { routerOf } from '../../sharding/router.ts';
import type { Shard } from '../../sharding/config.ts';

export const insertCommand: CommandDef = {
  names: ['insert'], secondaryAllowed: 'never', allowedInTransaction: true, opType: 'insert',
  run: async (ctx) => {
    const r = routerOf(ctx);
    const coll = collectionName(ctx, 'insert');
    const ns = `${ctx.db}.${coll}`;
    const docs = expectArray(ctx.cmd.documents, 'insert.documents');
    const groups = new Map<Shard, { docs: Document[]; indexes: number[] }>();
    docs.forEach((raw, i) => {
      const d = expectDoc(raw, `insert.documents.${i}`);
      const doc = d._id === undefined ? { _id: new ObjectId(), ...d } : d;
      const shard = r.config.shardForDocument(ns, doc);
      let g = groups.get(shard);
      if (!g) groups.set(shard, (g = { docs: [], indexes: [] }));
      g.docs.push(doc);
      g.indexes.push(i);
    });
    const ordered = ctx.cmd.ordered !== false;
    let n = 0;
    const writeErrors: Document[] = [];
    for (const [shard, g] of groups) {
      if (ordered && writeErrors.length) break;
      const reply = await r.onShard(ctx, shard, { ...ctx.cmd, documents: g.docs }, { write: true });
      n += isNumber(reply.n) ? toNumber(reply.n) : 0;
      for (const we of (reply.writeErrors as Document[] | undefined) ?? []) writeErrors.push({ ...we, index: g.indexes[toNumber(we.index)] });
    }
    writeErrors.sort((a, b) => toNumber(a.index) - toNumber(b.index));
    return writeErrors.length ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
  },
};
