/**
 * getShardMap on the router (src/mongo/s/commands/cluster_get_shard_map_cmd.cpp): every shard's connection
 * string by shard id (`map`), the shard of every host (`hosts`) and of every connection string (`connStrings`).
 * The stand-in's config state is in process: there is no config server to list. Needs getShardMap on the
 * cluster (builtin_roles.yml: clusterMonitor).
 */
import type { Document } from 'bson';
import type { CommandDef } from '../../mongod.ts';
import { routerOf } from '../../sharding/router.ts';

export const getShardMapCommand: CommandDef = {
  names: ['getShardMap'], secondaryAllowed: 'always', adminOnly: true,
  run: (ctx) => {
    ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'getShardMap');
    const config = routerOf(ctx).config;
    const map: Document = {};
    const hosts: Document = {};
    const connStrings: Document = {};
    for (const shard of config.shards) {
      const cs = config.connectionString(shard);
      map[shard.name] = cs;
      connStrings[cs] = shard.name;
      for (const m of shard.set.members) hosts[m.host] = shard.name;
    }
    return { map, hosts, connStrings, ok: 1 };
  },
};
