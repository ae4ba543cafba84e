/** The stand-in's programmatic API: a single node, a replica set, a sharded cluster, and the clock they read. */
export { startStandin, type RunningStandin, type StandinOptions, type UserSpec } from './server.ts';
export { startReplicaSet, type ReplicaSetOptions, type RunningReplicaSet, type RunningMember, type MemberStateName } from './replset.ts';
export { ManualClock, systemClock, type Clock } from './clock.ts';
export type { MemberOptions } from './replication.ts';
export type { Mongod, MongodParams } from './mongod.ts';
export { startShardedCluster, type ShardedClusterOptions, type RunningShardedCluster, type RunningRouter } from './sharding/cluster.ts';
export type { Shard } from './sharding/config.ts';
