/**
 * shardCollection on the router (admin): the stand-in shards by { _id: "hashed" } only, which is what spreads a
 * collection's documents over the shards. The documents already in the collection move from its owner shard to
 * the shards their _id hashes to (a real cluster splits the initial chunks and migrates). Needs enableSharding
 * on the namespace (builtin_roles.yml: clusterManager). Sharding an already sharded collection with the same
 * key answers success, as 5.0+ does.
 */
import { CommandError } from '../../errors.ts';
import { expectDoc, expectString } from '../../idl.ts';
import type { CommandDef } from '../../mongod.ts';
import { routerOf } from '../../sharding/router.ts';

export const shardCollectionCommand: CommandDef = {
  names: ['shardCollection', 'shardcollection'], secondaryAllowed: 'always', adminOnly: true,
  run: (ctx) => {
    const r = routerOf(ctx);
    const ns = expectString(ctx.cmd[ctx.name], 'shardCollection');
    const dot = ns.indexOf('.');
    if (dot <= 0 || dot === ns.length - 1) throw new CommandError(73, 'InvalidNamespace', `Invalid namespace specified '${ns}'`);
    const db = ns.slice(0, dot);
    const coll = ns.slice(dot + 1);
    ctx.mongod.requirePrivilege(ctx, { db, collection: coll }, 'enableSharding');
    const key = expectDoc(ctx.cmd.key, 'shardCollection.key');
    if (Object.keys(key).length !== 1 || key._id !== 'hashed') {
      throw new CommandError(2, 'BadValue', `the stand-in shards collections by { _id: "hashed" } only, got ${JSON.stringify(key)}: use key: { _id: "hashed" }`);
    }
    if (r.config.sharded.has(ns)) return { collectionsharded: ns, ok: 1 };
    const owner = r.config.ownerOf(ns);
    r.config.sharded.set(ns, { key: { _id: 'hashed' }, unique: false });
    const existing = owner.set.members[0]!.mongod.storage.get(db, coll);
    for (const [k, doc] of existing ? [...existing.docs] : []) {
      const dest = r.config.shardForId(doc._id);
      if (dest === owner) continue;
      dest.set.members[0]!.mongod.storage.getOrCreate(db, coll).docs.set(k, doc);
      existing!.docs.delete(k);
    }
    return { collectionsharded: ns, ok: 1 };
  },
};
