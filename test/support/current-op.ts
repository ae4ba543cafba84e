/**
 * A $currentOp document as the adapter receives it: the adapter's own $project (CURRENT_OP_PROJECTION, which
 * computes the command name, comment and stage names on the server) run on the stand-in's aggregation engine,
 * then mapped by toActivity. Unit tests feed documents shaped as the server writes them through this, so they
 * test the projection the server evaluates, not a copy of it.
 */
import type { Document } from 'mongodb';
import { CURRENT_OP_PROJECTION, toActivity } from '../../src/adapters/mongodb/adapter.ts';
import type { Activity } from '../../src/pass/ports.ts';
import { runPipeline } from '../../standin/src/mql-stages.ts';

export function projectedActivity(doc: Document): Activity {
  const [out] = [...runPipeline([doc], [{ $project: CURRENT_OP_PROJECTION }], { now: new Date() })];
  return toActivity(out!);
}
