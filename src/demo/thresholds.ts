/**
 * Demo thresholds, in seconds, for `npm start` and the end-to-end tests: the workload has been idle or
 * running for about three seconds when the pass runs, so each default rule fires on its target. The demo runs
 * one pass, so the idle rules act on their first sighting (minSightings 1; the shipped default waits for a
 * second pass, test/sightings.e2e.test.ts shows it).
 */
export const DEMO_THRESHOLDS = { idleTransactionSeconds: 1, runawayOperationSeconds: 2, staleCursorIdleSeconds: 1, minSightings: 1 };
