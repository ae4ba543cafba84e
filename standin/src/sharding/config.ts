/**
 * The shared config state of a stand-in sharded cluster: the shards (each a replica set) and which collections
 * are sharded. What a real cluster keeps on its config servers (config.shards, config.collections) and every
 * router caches; here one object the routers share.
 *
 * Placement:
 *  - an unsharded collection lives on one shard, chosen deterministically from its namespace (a real cluster
 *    puts it on its database's primary shard; the stand-in spreads by collection so that two collections of one
 *    database can sit on two shards);
 *  - a collection sharded with shardCollection { _id: 'hashed' } spreads its documents by a hash of _id
 *    (the server hashes the _id's BSON element with MD5, hasher.cpp; the stand-in with SHA-256, which is just
 *    as deterministic and as spread).
 */
import { createHash } from 'node:crypto';
import { BSON, type Document } from 'bson';
import type { RunningReplicaSet } from '../replset.ts';

export interface Shard {
  /** The shard id, as in config.shards _id and the "<shard>:<opid>" of $currentOp through mongos; also its replSetName. */
  readonly name: string;
  readonly set: RunningReplicaSet;
}

export interface ShardedCollection {
  readonly key: Document;
  readonly unique: boolean;
}

function hash32(bytes: Uint8Array | string): number {
  return createHash('sha256').update(bytes).digest().readUInt32BE(0);
}

export class ClusterConfig {
  readonly sharded = new Map<string, ShardedCollection>();

  constructor(readonly shards: readonly Shard[]) {
    if (shards.length < 1) throw new Error('a sharded cluster needs at least one shard');
  }

  shard(name: string): Shard | undefined {
    return this.shards.find((s) => s.name === name);
  }

  /** "<shard>/<host>,<host>": the shard's connection string, as config.shards `host` holds it. */
  connectionString(shard: Shard): string {
    return `${shard.name}/${shard.set.members.map((m) => m.host).join(',')}`;
  }

  isSharded(ns: string): boolean {
    return this.sharded.has(ns);
  }

  /** Where an unsharded collection lives (and where a collection is before shardCollection). */
  ownerOf(ns: string): Shard {
    return this.shards[hash32(ns) % this.shards.length]!;
  }

  /** The shard a document with this _id belongs to in a sharded collection. */
  shardForId(id: unknown): Shard {
    return this.shards[hash32(BSON.serialize({ v: id })) % this.shards.length]!;
  }

  /** The shard that holds (or will hold) a document of `ns`. */
  shardForDocument(ns: string, doc: Document): Shard {
    return this.isSharded(ns) ? this.shardForId(doc._id) : this.ownerOf(ns);
  }

  /**
   * The shards a query on `ns` must reach: the owner of an unsharded collection; for a sharded one the shard
   * of an _id equality (targeting by shard key), else every shard.
   */
  targets(ns: string, filter?: Document): Shard[] {
    if (!this.isSharded(ns)) return [this.ownerOf(ns)];
    const id = filter?._id;
    if (id !== undefined && !isOperatorDoc(id)) return [this.shardForId(id)];
    return [...this.shards];
  }

  /** config.shards documents (ShardType: _id, host, state 1 = shard aware). */
  shardDocuments(): Document[] {
    return this.shards.map((s) => ({ _id: s.name, host: this.connectionString(s), state: 1 }));
  }

  /** config.collections documents for the sharded collections. */
  collectionDocuments(): Document[] {
    return [...this.sharded].map(([ns, c]) => ({ _id: ns, key: c.key, unique: c.unique }));
  }
}

function isOperatorDoc(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).some((k) => k.startsWith('$'));
}
