/**
 * The collection commands the router passes on with little more than targeting, kept together because each is
 * a few lines: create (the owner shard), drop (every shard holding the collection; a sharded collection is
 * unsharded), count (summed over the targeted shards), listCollections (merged across the shards, by name).
 */
import type { Document } from 'bson';
import { CommandError } from '../../errors.ts';
import { documentSource, DEFAULT_FIRST_BATCH } from '../../batches.ts';
import { isDoc, isNumber, toNumber } from '../../idl.ts';
import type { CommandDef } from '../../mongod.ts';
import { collectionName, cursorReply } from '../crud.ts';
import { routerOf } from '../../sharding/router.ts';

export const forwardedCommands: CommandDef[] = [
  {
    names: ['create'], secondaryAllowed: 'never', allowedInTransaction: true,
    run: (ctx) => {
      const r = routerOf(ctx);
      const ns = `${ctx.db}.${collectionName(ctx, 'create')}`;
      return r.onShard(ctx, r.config.ownerOf(ns), ctx.cmd, { write: true });
    },
  },
  {
    names: ['drop'], secondaryAllowed: 'never',
    run: async (ctx) => {
      const r = routerOf(ctx);
      const ns = `${ctx.db}.${collectionName(ctx, 'drop')}`;
      const targets = r.config.targets(ns);
      r.config.sharded.delete(ns);
      let dropped = false;
      for (const shard of targets) {
        const reply = await r.run(ctx, shard, r.primaryOf(shard), r.statement(ctx, shard, ctx.cmd, { write: true }));
        if (reply.ok === 1) dropped = true;
        else if (reply.code !== 26) throw new CommandError(toNumber(reply.code), String(reply.codeName), String(reply.errmsg));
      }
      if (!dropped) throw new CommandError(26, 'NamespaceNotFound', 'ns not found');
      return { ns, ok: 1 };
    },
  },
  {
    names: ['count'], secondaryAllowed: 'optIn', opType: 'command',
    run: async (ctx) => {
      const r = routerOf(ctx);
      const ns = `${ctx.db}.${collectionName(ctx, 'count')}`;
      let n = 0;
      for (const shard of r.config.targets(ns, isDoc(ctx.cmd.query) ? ctx.cmd.query : undefined)) {
        const reply = await r.onShard(ctx, shard, ctx.cmd);
        n += isNumber(reply.n) ? toNumber(reply.n) : 0;
      }
      return { n, ok: 1 };
    },
  },
  {
    names: ['listCollections'], secondaryAllowed: 'optIn',
    run: async (ctx) => {
      const r = routerOf(ctx);
      const byName = new Map<string, Document>();
      for (const shard of r.config.shards) {
        const member = r.target(ctx, shard, false);
        const docs = await r.drain(ctx, shard, member, r.statement(ctx, shard, ctx.cmd, { readPreference: ctx.cmd.$readPreference }));
        for (const d of docs) if (!byName.has(String(d.name))) byName.set(String(d.name), d);
      }
      return cursorReply(ctx, `${ctx.db}.$cmd.listCollections`, documentSource(byName.values()), DEFAULT_FIRST_BATCH);
    },
  },
];
