/**
 * The stand-in's source of time. Every time the server reports or compares (operation start and
 * secs_running, transaction timeActive/timeInactive and expiry, cursor lastAccessDate and timeouts,
 * session lastUse and the TTL cut-off) is read from a Clock, so a test can let time pass without waiting.
 *
 * Waiting itself (sleep, blockTimeMS, awaitable hello, the periodic jobs' timers) stays on real timers:
 * it waits for events; only what it reports comes from the clock.
 */
export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to: for tests that "let 3 seconds pass" without sleeping. */
export class ManualClock implements Clock {
  private ms: number;

  constructor(startMs: number = Date.now()) {
    this.ms = ManualClock.check(startMs, 'start');
  }

  now(): number {
    return this.ms;
  }

  /** Moves the clock forward by `ms` (not backwards: use set() for that). */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`ManualClock.advance: ms must be a non-negative number, got ${ms}`);
    this.ms += ms;
    return this.ms;
  }

  set(ms: number): number {
    this.ms = ManualClock.check(ms, 'set');
    return this.ms;
  }

  private static check(ms: number, what: string): number {
    if (!Number.isFinite(ms)) throw new Error(`ManualClock.${what}: ms must be a finite number of epoch milliseconds, got ${ms}`);
    return ms;
  }
}

/**
 * Real time running behind by a lag that a test takes back with skip(): the clock for a stand-in read by a
 * reaper in another process or behind a module-scoped handler (both read Date.now). Started with a lag of
 * 3 s, skip(3000) makes everything the workload did "3 seconds ago" without waiting; the server's own
 * durations (secs_running, timeInactiveMicros) and the reaper's (now minus lastUse) agree, because the
 * stand-in's clock never runs ahead of the reaper's.
 */
export class LaggingClock implements Clock {
  private lagMs: number;

  constructor(lagMs: number) {
    if (!Number.isFinite(lagMs) || lagMs < 0) throw new Error(`LaggingClock: lagMs must be a non-negative number, got ${lagMs}`);
    this.lagMs = lagMs;
  }

  now(): number {
    return Date.now() - this.lagMs;
  }

  /** Lets `ms` pass: the lag shrinks by ms (never below zero: the clock cannot overtake real time). */
  skip(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0 || ms > this.lagMs) throw new Error(`LaggingClock.skip: ms must be between 0 and the remaining lag ${this.lagMs}, got ${ms}`);
    this.lagMs -= ms;
  }
}
