/**
 * Running operations: what $currentOp reports as type "op" and what killOp and killSessions interrupt.
 *
 * An interrupted operation fails with the kill code, Interrupted(11601) "operation was interrupted" by default
 * (ServiceContext::killOperation; kill_sessions_common.cpp killSessionsLocalKillOps), or
 * TransactionExceededLifetimeLimitSeconds(290) when the transaction reaper kills it.
 */
import type { Document } from 'bson';
import { CommandError } from './errors.ts';
import type { ClientInfo, SessionRecord, Transaction } from './sessions.ts';
import { SessionIndex } from './session-index.ts';

export interface Operation {
  /** int32, as mongod reports it (curop.cpp: static_cast<int>). */
  readonly opid: number;
  readonly client: ClientInfo | null;
  readonly session: SessionRecord | null;
  /** By the server's clock (mongod.ts Mongod.clock). */
  readonly startedAtMs: number;
  readonly command: Document;
  /** "command", "query", "insert", "update", "remove", "getmore", "killcursors", "none". */
  readonly op: string;
  readonly ns: string;
  readonly effectiveUsers: { user: string; db: string }[];
  readonly txn: Transaction | null;
  /** Synthetic ops (bulk-created for benchmarks) have no connection and run until killed. */
  readonly synthetic: boolean;
  killPending: CommandError | null;
  /**
   * CurOp::pauseTimer: an awaitable hello does not count its wait as running time. pausedMs is the time
   * spent paused so far, pausedSinceMs when the current pause began (0 when running).
   */
  pausedMs: number;
  pausedSinceMs: number;
  /** What $currentOp shows beyond the command (desc, msg/progress, planSummary, the cursor of a getMore). */
  details?: OpDetails;
  /** Resolved when the op is interrupted; long-running commands race it. */
  readonly interrupted: Promise<CommandError>;
  interrupt(err: CommandError): void;
}

/** Running time by the clock: from the start, less the time the timer was paused. */
export function runningMs(op: Operation, now: number): number {
  const paused = op.pausedMs + (op.pausedSinceMs ? now - op.pausedSinceMs : 0);
  return Math.max(0, now - op.startedAtMs - paused);
}

export interface OpDetails {
  /** Overrides desc "conn<N>" (internal threads: "IndexBuildsCoordinatorMongod-0"). */
  desc?: string;
  msg?: string;
  progress?: { done: number; total: number };
  planSummary?: string;
  /** An internal child session's lsid as sent ({id, uid, txnNumber?, txnUUID}); the op runs in its parent's record. */
  lsid?: Document;
  /** The cursor a getMore runs on: reported as the op's `cursor` (curop.cpp reportState, _genericCursor). */
  cursor?: import('./cursors.ts').Cursor;
}

export const interruptedError = (): CommandError => new CommandError(11601, 'Interrupted', 'operation was interrupted');

export class OpRegistry {
  private readonly ops = new Map<number, Operation>();
  /** Index by session so that killing N sessions does not scan every op N times. */
  private readonly bySession = new SessionIndex<Operation>();
  private nextOpid = 1;

  get size(): number {
    return this.ops.size;
  }

  start(fields: Omit<Operation, 'opid' | 'killPending' | 'interrupted' | 'interrupt' | 'pausedMs' | 'pausedSinceMs'>): Operation {
    const opid = this.nextOpid;
    this.nextOpid = this.nextOpid >= 0x7fffffff ? 1 : this.nextOpid + 1;
    let fire!: (e: CommandError) => void;
    const interrupted = new Promise<CommandError>((resolve) => (fire = resolve));
    const op: Operation = {
      ...fields,
      opid,
      killPending: null,
      pausedMs: 0,
      pausedSinceMs: 0,
      interrupted,
      interrupt(err: CommandError) {
        if (op.killPending) return;
        op.killPending = err;
        fire(err);
      },
    };
    this.ops.set(opid, op);
    this.bySession.add(op.session, op);
    return op;
  }

  finish(op: Operation): void {
    this.ops.delete(op.opid);
    this.bySession.delete(op.session, op);
  }

  get(opid: number): Operation | undefined {
    return this.ops.get(opid);
  }

  all(): IterableIterator<Operation> {
    return this.ops.values();
  }

  /** Interrupts and, for synthetic ops that nobody is awaiting, removes them. */
  kill(op: Operation, err: CommandError = interruptedError()): void {
    op.interrupt(err);
    if (op.synthetic) this.finish(op);
  }

  ofSession(rec: SessionRecord): Operation[] {
    return this.bySession.of(rec);
  }

  hasOps(rec: SessionRecord): boolean {
    return this.bySession.has(rec);
  }

  /** Sessions that have a running op (refreshed by the cache refresh even if not otherwise used). */
  sessionsWithOps(): IterableIterator<SessionRecord> {
    return this.bySession.sessions();
  }
}
