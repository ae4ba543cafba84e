/**
 * The pass options of end-to-end tests: a live pass (not a dry run) that may kill up to 100, in batches of 100.
 * Where the stand-in runs on a ManualClock the reaper reads the same clock as its `now`, so idle times, sightings
 * and re-checks advance only when the test advances the clock; against a real server, `now` is the wall clock.
 */
import type { PassOptions } from '../../src/pass/pass.ts';
import type { ManualClock } from '../../standin/src/clock.ts';

export function passOptions(now: () => number, extra: Partial<PassOptions> = {}): PassOptions {
  return {
    cluster: 'e2e', trigger: { type: 'cli' }, dryRun: false, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 1,
    source: 'mongodb.session-reaper', now, ...extra,
  };
}

export function clockedPassOptions(clock: ManualClock, extra: Partial<PassOptions> = {}): PassOptions {
  return passOptions(() => clock.now(), extra);
}
