/**
 * The router's command table: what mongos answers differently from mongod. Registered over the mongod
 * commands a router shares (hello, buildInfo, authentication, users, startSession/endSessions on its own
 * cache...; sharding/cluster.ts createRouterMongod).
 */
import type { CommandDef } from '../../mongod.ts';
import { abortTransactionCommand } from './abort-transaction.ts';
import { aggregateCommand } from './aggregate.ts';
import { commitTransactionCommand } from './commit-transaction.ts';
import { deleteCommand } from './delete.ts';
import { findCommand } from './find.ts';
import { forwardedCommands } from './forwarded.ts';
import { getMoreCommand } from './get-more.ts';
import { getShardMapCommand } from './get-shard-map.ts';
import { insertCommand } from './insert.ts';
import { killAllSessionsByPatternCommand } from './kill-all-sessions-by-pattern.ts';
import { killAllSessionsCommand } from './kill-all-sessions.ts';
import { killCursorsCommand } from './kill-cursors.ts';
import { killOpCommand } from './kill-op.ts';
import { killSessionsCommand } from './kill-sessions.ts';
import { listShardsCommand } from './list-shards.ts';
import { shardCollectionCommand } from './shard-collection.ts';
import { updateCommand } from './update.ts';

export const routerCommands: CommandDef[] = [
  findCommand, aggregateCommand, getMoreCommand, killCursorsCommand, insertCommand, updateCommand, deleteCommand,
  commitTransactionCommand, abortTransactionCommand,
  killSessionsCommand, killAllSessionsCommand, killAllSessionsByPatternCommand, killOpCommand,
  shardCollectionCommand, getShardMapCommand, listShardsCommand, ...forwardedCommands,
];
