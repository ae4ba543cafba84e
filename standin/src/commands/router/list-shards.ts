/** listShards on the router (cluster_list_shards_cmd.cpp): the config.shards documents. Needs listShards on the cluster. */
import type { CommandDef } from '../../mongod.ts';
import { routerOf } from '../../sharding/router.ts';

export const listShardsCommand: CommandDef = {
  names: ['listShards'], secondaryAllowed: 'always', adminOnly: true,
  run: (ctx) => {
    ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'listShards');
    return { shards: routerOf(ctx).config.shardDocuments(), ok: 1 };
  },
};
