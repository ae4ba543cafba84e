/**
 * One pass per cluster at a time. A pass takes its cluster's lease before it reads anything and releases it
 * when it ends, however it ends; a pass that finds the lease held does not start, and says which pass holds
 * it and since when. It does not wait: waiting would pile passes up behind a slow one, and the next trigger
 * sees the cluster as it is by then anyway.
 *
 * Two stores behind one port: DynamoDB across every process of the deployment (src/adapters/dynamodb-leases.ts,
 * used whenever REAPER_STATE_TABLE is set, as serverless.yml sets it), so the reaper function can run passes
 * of different clusters in parallel; and this in-process map, for runs without a table (local invocations,
 * tests of the handlers) where one process is the whole deployment.
 */
import { leaseHeld, type LeaseHolder, type LeaseRequest, type LeaseStore, type ReleaseLease } from '../pass/ports.ts';

export type { LeaseHolder, LeaseRequest, LeaseStore, ReleaseLease };

/**
 * Runs fn holding the cluster's lease; the lease is released however fn ends. A release that fails (DynamoDB
 * refusing the DeleteItem, the network gone) is logged as a warning and changes nothing else: fn's result or
 * error stands. The pass has run, its kills are audited; failing the invocation for it would only have Lambda
 * retry the pass, and the lease expires by itself anyway (the warning says when).
 */
export async function withLease<T>(store: LeaseStore, request: LeaseRequest, fn: () => Promise<T>, log: { warn(message: string): void }): Promise<T> {
  const release = await store.acquire(request);
  try {
    return await fn();
  } finally {
    try {
      await release();
    } catch (e) {
      log.warn(`the lease of cluster "${request.cluster}" held by pass ${request.owner} was not released (${(e as Error).message}); `
        + `it expires by itself at ${release.expiresAt.toISOString()}, and until then no other pass of the cluster starts. The pass's outcome stands`);
    }
  }
}

export class InProcessLeases implements LeaseStore {
  readonly #held = new Map<string, LeaseHolder & { expiresAt: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async acquire({ cluster, owner, ttlMs }: LeaseRequest): Promise<ReleaseLease> {
    const now = this.#now();
    const holder = this.#held.get(cluster);
    if (holder && holder.expiresAt > now) throw leaseHeld(cluster, holder);
    const mine = { owner, since: new Date(now), expiresAt: now + ttlMs };
    this.#held.set(cluster, mine);
    return Object.assign(async () => {
      if (this.#held.get(cluster) === mine) this.#held.delete(cluster);
    }, { expiresAt: new Date(mine.expiresAt) });
  }

  holder(cluster: string): LeaseHolder | undefined {
    return this.#held.get(cluster);
  }
}
