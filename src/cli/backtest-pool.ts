/**
 * Snapshots decided in worker threads, results handed back in the order the files were given. A backtest is
 * CPU-bound (decompressing, parsing, deciding) and its snapshots are independent, so `jobs` threads decide
 * `jobs` snapshots at once. One job, one file, or no worker entry to start (a bundle without it) decides in
 * the calling thread. At most two snapshots per job are in flight, so finished results waiting for a slow
 * earlier one stay few.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { decideAndRender, type BacktestPlan } from './backtest-decide.ts';
import type { RenderedSnapshot } from './backtest-output.ts';

export interface Job {
  index: number;
  file: string;
}

export type Reply = { index: number; result: RenderedSnapshot } | { index: number; failure: string };

/** Snapshots sent ahead per job: enough to keep a thread busy while its last result is written. */
const AHEAD_PER_JOB = 2;

/**
 * A worker's young generation (V8's default is ~48 MB): a backtest allocates fast and short-lived, and a
 * smaller nursery is collected sooner. Measured on 100 snapshots of 10,000 sessions with two workers (npm run
 * bench): 12 MB keeps the process under 256 MB for about the same time; the old generation is not limited,
 * so a large snapshot still fits.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 12 };

/**
 * The worker's entry: beside this module in the sources (run through tsx); dist/cli/backtest-worker.mjs in the
 * build, whose chunks (this module among them) are in dist/chunks/.
 */
function workerEntry(): URL | null {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('./backtest-worker.ts', here) : new URL('../cli/backtest-worker.mjs', here);
  return existsSync(fileURLToPath(url)) ? url : null;
}

function startWorker(entry: URL, plan: BacktestPlan): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData: { plan }, resourceLimits: WORKER_LIMITS });
  // From the sources (tests, `node --import tsx`): the thread registers tsx before it loads the entry.
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry.href)}); });`, { eval: true, workerData: { plan }, resourceLimits: WORKER_LIMITS });
}

export async function* decideInOrder(files: readonly string[], plan: BacktestPlan, jobs: number): AsyncIterable<RenderedSnapshot> {
  const entry = jobs > 1 && files.length > 1 ? workerEntry() : null;
  if (!entry) {
    for (const file of files) yield await decideAndRender(file, plan);
    return;
  }
  const done = new Map<number, RenderedSnapshot>();
  const idle: Worker[] = [];
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  let sent = 0;
  let yielded = 0;
  const limit = jobs * AHEAD_PER_JOB;
  const dispatch = (): void => {
    while (idle.length && sent < files.length && sent - yielded < limit) idle.pop()!.postMessage({ index: sent, file: files[sent++]! } satisfies Job);
  };
  const workers = Array.from({ length: Math.min(jobs, files.length) }, () => startWorker(entry, plan));
  for (const w of workers) {
    w.on('message', (reply: Reply) => {
      if ('failure' in reply) failure ??= new Error(`the backtest worker failed on ${files[reply.index]}: ${reply.failure}`);
      else done.set(reply.index, reply.result);
      idle.push(w);
      dispatch();
      wake?.();
    });
    w.on('error', (e) => {
      failure ??= e;
      wake?.();
    });
    idle.push(w);
  }
  dispatch();
  try {
    for (; yielded < files.length; yielded++) {
      while (!done.has(yielded)) {
        if (failure) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      const result = done.get(yielded)!;
      done.delete(yielded);
      yield result;
      dispatch();
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
