/**
 * A backtest worker thread's entry (backtest-pool.ts starts it): decides each snapshot file it is sent with the
 * plan it was started with, and replies with the rendered result. Its own entry point of the build (scripts/build.mjs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { decideAndRender, type BacktestPlan } from './backtest-decide.ts';
import type { Job, Reply } from './backtest-pool.ts';

const plan = (workerData as { plan: BacktestPlan }).plan;
parentPort!.on('message', (job: Job) => {
  decideAndRender(job.file, plan).then(
    (result) => parentPort!.postMessage({ index: job.index, result } satisfies Reply),
    (e: Error) => parentPort!.postMessage({ index: job.index, failure: e.stack ?? e.message } satisfies Reply),
  );
});
