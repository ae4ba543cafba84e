/**
 * What kind of work a $currentOp document shows, derived here and nowhere else, each test with its source.
 * The inventory ORs the flags of a session's documents into its fact record (facts.ts: "any").
 */
import type { Activity } from './ports.ts';

export const CHANGE_STREAM = 1;
export const INDEX_BUILD = 2;
export const WRITES_OUTPUT = 4;
export const INTERNAL_COMMAND = 8;
export const SYSTEM_NAMESPACE = 16;
export const RESHARDING = 32;
export const COMMIT_COORDINATOR = 64;

/**
 * Commands of a resharding, on the router, the config server and the shards: reshardCollection and its
 * _configsvr/_shardsvr forms, commit/abort, and moveCollection / unshardCollection (8.0), which run as
 * reshardings (src/mongo/db/s/resharding/, src/mongo/s/commands/cluster_reshard_collection_cmd.cpp).
 */
const RESHARDING_COMMAND = /^(_configsvr|_shardsvr)?(reshardCollection|commitReshardCollection|abortReshardCollection|moveCollection|unshardCollection|cleanupReshardCollection|reshardingOperationTime)$/i;

/**
 * A change stream is an aggregate whose first stage is $changeStream (document_source_change_stream.cpp:
 * "$changeStream is only valid as the first stage in a pipeline"); its getMores and idle cursor carry that
 * aggregate as cursor.originatingCommand, so `stages` is read from it for them.
 */
export function isChangeStream(a: Pick<Activity, 'stages'>): boolean {
  return a.stages[0] === '$changeStream';
}

/**
 * An index build shows as the client's createIndexes command and as the build thread
 * (desc "IndexBuildsCoordinatorMongod-N", msg "Index Build: scanning collection ..."); killing either
 * aborts the whole build (jstests/noPassthrough/indexbg_killop_primary_after_init.js).
 */
export function isIndexBuild(a: Pick<Activity, 'commandName' | 'desc' | 'msg'>): boolean {
  return a.commandName === 'createIndexes' || a.desc.startsWith('IndexBuildsCoordinator') || a.msg.startsWith('Index Build');
}

/** $out and $merge are the last stage of an aggregate (document_source_out.cpp, document_source_merge.cpp). */
export function writesOutput(a: Pick<Activity, 'stages'>): boolean {
  const last = a.stages[a.stages.length - 1];
  return last === '$out' || last === '$merge';
}

/**
 * Commands whose names start with "_" are the cluster's own (_shardsvr*, _configsvr*, _recvChunkStart,
 * _migrateClone, _transferMods, _flushRoutingTableCacheUpdates, ...), sent member to member.
 */
export function isInternalCommand(a: Pick<Activity, 'commandName'>): boolean {
  return a.commandName.startsWith('_');
}

/** local.* (the oplog, replica-set state), config.* (sessions, transactions, sharding metadata) and admin.system.* (users, roles, version). */
export function isSystemNamespace(a: Pick<Activity, 'ns'>): boolean {
  return a.ns.startsWith('local.') || a.ns.startsWith('config.') || a.ns.startsWith('admin.system.');
}

/** Resharding services report desc "ReshardingDonorService ...", "ReshardingRecipientService ...", "ReshardingCoordinatorService ...". */
export function isResharding(a: Pick<Activity, 'commandName' | 'desc'>): boolean {
  return a.desc.startsWith('Resharding') || RESHARDING_COMMAND.test(a.commandName);
}

/**
 * The two-phase commit coordinator reports desc "transaction coordinator" with a twoPhaseCommitCoordinator
 * sub-document (transaction_coordinator.cpp reportForCurrentOp); mongos starts it with coordinateCommitTransaction.
 */
export function isCommitCoordinator(a: Pick<Activity, 'commandName' | 'desc' | 'coordinator'>): boolean {
  return a.coordinator || a.desc === 'transaction coordinator' || a.commandName === 'coordinateCommitTransaction';
}

/** All flags of one document, as a bit set. */
export function classify(a: Activity): number {
  let flags = 0;
  if (isChangeStream(a)) flags |= CHANGE_STREAM;
  if (isIndexBuild(a)) flags |= INDEX_BUILD;
  if (writesOutput(a)) flags |= WRITES_OUTPUT;
  if (isInternalCommand(a)) flags |= INTERNAL_COMMAND;
  if (isSystemNamespace(a)) flags |= SYSTEM_NAMESPACE;
  if (isResharding(a)) flags |= RESHARDING;
  if (isCommitCoordinator(a)) flags |= COMMIT_COORDINATOR;
  return flags;
}
