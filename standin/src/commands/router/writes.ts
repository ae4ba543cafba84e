/**
 * What update and delete through the router share: an unsharded collection's command goes whole to its owner;
 * on a sharded one each statement goes to the shard of an _id equality in its filter, or else to every shard
 * (a multi statement) or to the shards in turn until one matches (a single one). An upsert that cannot be
 * targeted to one shard is refused as the server refuses it (ShardKeyNotFound 61).
 */
import type { Document } from 'bson';
import { CommandError } from '../../errors.ts';
import { expectArray, expectDoc, isNumber, toNumber } from '../../idl.ts';
import type { CommandContext } from '../../mongod.ts';
import { collectionName } from '../crud.ts';
import { routerOf } from '../../sharding/router.ts';

export async function routeWrite(ctx: CommandContext, kind: 'update' | 'delete'): Promise<Document> {
  const r = routerOf(ctx);
  const coll = collectionName(ctx, kind);
  const ns = `${ctx.db}.${coll}`;
  if (!r.config.isSharded(ns)) return r.onShard(ctx, r.config.ownerOf(ns), ctx.cmd, { write: true });
  const field = kind === 'update' ? 'updates' : 'deletes';
  const statements = expectArray(ctx.cmd[field], `${kind}.${field}`);
  const ordered = ctx.cmd.ordered !== false;
  let n = 0;
  let nModified = 0;
  const upserted: Document[] = [];
  const writeErrors: Document[] = [];
  for (let i = 0; i < statements.length; i++) {
    if (ordered && writeErrors.length) break;
    const s = expectDoc(statements[i], `${kind}.${field}.${i}`);
    const targets = r.config.targets(ns, expectDoc(s.q ?? {}, `${kind}.${field}.${i}.q`));
    const multi = kind === 'update' ? s.multi === true : s.limit === 0;
    if (targets.length > 1 && s.upsert === true) {
      throw new CommandError(61, 'ShardKeyNotFound', `Failed to target upsert by query :: could not extract exact shard key from ${JSON.stringify(s.q)}`);
    }
    for (const shard of targets) {
      const reply = await r.onShard(ctx, shard, { ...ctx.cmd, [field]: [s] }, { write: true });
      const got = isNumber(reply.n) ? toNumber(reply.n) : 0;
      n += got;
      if (isNumber(reply.nModified)) nModified += toNumber(reply.nModified);
      for (const u of (reply.upserted as Document[] | undefined) ?? []) upserted.push({ ...u, index: i });
      for (const we of (reply.writeErrors as Document[] | undefined) ?? []) writeErrors.push({ ...we, index: i });
      if (!multi && got > 0) break;
    }
  }
  const reply: Document = { n };
  if (kind === 'update') reply.nModified = nModified;
  if (upserted.length) reply.upserted = upserted;
  if (writeErrors.length) reply.writeErrors = writeErrors;
  reply.ok = 1;
  return reply;
}
