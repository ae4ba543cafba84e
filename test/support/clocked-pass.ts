/**
 * The pass options of end-to-end tests whose stand-in runs on a ManualClock: the reaper reads the same clock as
 * its `now`, so idle times, sightings and re-checks advance only when the test advances the clock.
 */
import type { PassOptions } from '../../src/pass/pass.ts';
import type { ManualClock } from '../../standin/src/clock.ts';

export function clockedPassOptions(clock: ManualClock, extra: Partial<PassOptions> = {}): PassOptions {
  return {
    cluster: 'e2e', trigger: { type: 'cli' }, dryRun: false, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 1,
    source: 'mongodb.session-reaper', now: () => clock.now(), ...extra,
  };
}
