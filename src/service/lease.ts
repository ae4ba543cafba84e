/**
 * One pass per cluster at a time, within a process.
 *
 * Across processes the deployment guarantees it: every pass runs in the one reaper function, whose
 * reserved concurrency is 1 (serverless.yml), so Lambda never runs two of its invocations at once.
 * This lease covers what that cannot: several invocations sharing one process (tests calling the
 * handlers concurrently, or a runtime that multiplexes invocations in one environment, as Lambda
 * Managed Instances do), and a future raise of the reserved concurrency. It does not wait: a pass
 * that finds the lease taken does not start, and says which pass holds it. Waiting would pile passes
 * up behind a slow one, and the next trigger sees the cluster as it is by then anyway.
 */
import { PassInProgressError } from '../util/errors.ts';

export interface LeaseHolder {
  /** What holds it, for the error of a pass that could not start. */
  owner: string;
  since: Date;
}

export class ClusterLeases {
  readonly #held = new Map<string, LeaseHolder>();

  /** Takes the cluster's lease, or throws PassInProgressError naming the holder. */
  acquire(cluster: string, owner: string, now = new Date()): () => void {
    const holder = this.#held.get(cluster);
    if (holder) {
      throw new PassInProgressError(cluster, `a pass for cluster "${cluster}" is already running (${holder.owner}, since ${holder.since.toISOString()}); this one did not start`);
    }
    const mine: LeaseHolder = { owner, since: now };
    this.#held.set(cluster, mine);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (this.#held.get(cluster) === mine) this.#held.delete(cluster);
    };
  }

  /** Runs fn holding the cluster's lease; the lease is released however fn ends. */
  async with<T>(cluster: string, owner: string, fn: () => Promise<T>): Promise<T> {
    const release = this.acquire(cluster, owner);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  holder(cluster: string): LeaseHolder | undefined {
    return this.#held.get(cluster);
  }
}
