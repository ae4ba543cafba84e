/**
 * Demo thresholds, in seconds, for `npm start` and the end-to-end tests: the workload has been idle or
 * running for about three seconds when the pass runs, so each default rule fires on its target.
 */
export const DEMO_THRESHOLDS = { idleTransactionSeconds: 1, runawayOperationSeconds: 2, staleCursorIdleSeconds: 1 };
