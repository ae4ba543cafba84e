/**
 * Aggregation pipelines after a listing stage or over a collection: $match, $skip, $limit and $count are the
 * stand-in's own streaming stages (a $limit stops pulling from the source); the others run in mingo, one
 * stage at a time, with BSON values converted in and out (engine-values.ts).
 */
import type { Document } from 'bson';
import { Aggregator } from 'mingo/aggregator';
import * as pipelineOps from 'mingo/operators/pipeline';
import { CommandError } from './errors.ts';
import { plainInclusion, plainUnset } from './path-projection.ts';
import { fromEngine, isPlainDocument, toEngine } from './engine-values.ts';
import { bindNow, compileFilter, ENGINE_OPTIONS, guarded, refuseReservedNames, STAGES, type DocPredicate } from './mql.ts';

export interface PipelineContext {
  /** $$NOW. */
  now: Date;
}

/** Stages that hand on their input documents unchanged: the output is the input, object for object. */
const PASS_THROUGH = new Set(['$sort', '$sample']);
/** Stages that map each document to one document: the input is the hint for its output's values. */
const ONE_TO_ONE = new Set(['$project', '$addFields', '$set', '$unset']);

/** The stage name, with the server's errors for a malformed stage (document_source.cpp, pipeline.cpp). */
export function stageName(stage: unknown): string {
  if (!isPlainDocument(stage)) throw new CommandError(14, 'TypeMismatch', "Each element of the 'pipeline' array must be an object");
  const keys = Object.keys(stage);
  if (keys.length !== 1) throw new CommandError(40323, 'Location40323', 'A pipeline stage specification object must contain exactly one field.');
  const name = keys[0]!;
  if (name === '$match' || STAGES.includes(name)) return name;
  if (name in pipelineOps || ['$lookup', '$facet', '$unionWith', '$out', '$merge', '$geoNear', '$collStats', '$indexStats'].includes(name)) {
    throw new CommandError(238, 'NotImplemented', `${name} is not supported by the stand-in; it runs $match, ${STAGES.join(', ')}`);
  }
  throw new CommandError(40324, 'Location40324', `Unrecognized pipeline stage name: '${name}'`);
}

function* filtered(docs: Iterable<Document>, pred: DocPredicate): Generator<Document> {
  for (const d of docs) if (pred(d)) yield d;
}

/** $skip / $limit arguments (document_source_skip.cpp 5107200, document_source_limit.cpp 5107201). */
function stageCount(name: string, code: number, spec: unknown): number {
  const n = toEngine(spec);
  let reason: string | null = null;
  if (typeof n !== 'number') reason = 'Expected a number';
  else if (Number.isNaN(n)) reason = 'Expected an integer, but found NaN';
  else if (!Number.isInteger(n)) reason = 'Expected an integer';
  else if (n < 0) reason = 'Expected a non-negative number';
  if (reason) throw new CommandError(code, `Location${code}`, `invalid argument to ${name} stage: ${reason} in: ${name}: ${String(spec)}`);
  return Math.min(n as number, Number.MAX_SAFE_INTEGER);
}

/** $count (document_source_count.cpp): $group {_id: null, n: {$sum: 1}} and a projection, so no input gives no output. */
function countName(spec: unknown): string {
  const fail = (code: number, msg: string): never => {
    throw new CommandError(code, `Location${code}`, msg);
  };
  if (typeof spec !== 'string') fail(40156, 'the count field must be a non-empty string');
  const name = spec as string;
  if (name.length === 0) fail(40157, 'the count field must be a non-empty string');
  if (name.startsWith('$')) fail(40158, 'the count field cannot be a $-prefixed path');
  if (name.includes('\0')) fail(40159, 'the count field cannot contain a null byte');
  if (name.includes('.')) fail(40160, "the count field cannot contain '.'");
  return name;
}

/** The streaming stages are the stand-in's own, so that a $limit stops pulling from the source (mingo's drains it). */
function* skipped(docs: Iterable<Document>, n: number): Generator<Document> {
  let i = 0;
  for (const d of docs) if (i++ >= n) yield d;
}

function* limited(docs: Iterable<Document>, n: number): Generator<Document> {
  if (n === 0) return;
  let i = 0;
  for (const d of docs) {
    yield d;
    if (++i >= n) return;
  }
}

function* mapped(docs: Iterable<Document>, f: (d: Document) => Document): Generator<Document> {
  for (const d of docs) yield f(d);
}

function* counted(docs: Iterable<Document>, name: string): Generator<Document> {
  let n = 0;
  for (const _ of docs) n++;
  if (n > 0) yield { [name]: n };
}

function runStage(docs: Iterable<Document>, name: string, spec: unknown, ctx: PipelineContext): Iterable<Document> {
  switch (name) {
    case '$match':
      if (!isPlainDocument(spec)) throw new CommandError(15959, 'Location15959', 'the match filter must be an expression in an object');
      return filtered(docs, compileFilter(spec, '$match', ctx.now));
    case '$skip':
      return skipped(docs, stageCount('$skip', 5107200, spec));
    case '$limit': {
      const n = stageCount('$limit', 5107201, spec);
      if (n === 0) throw new CommandError(15958, 'Location15958', 'the limit must be positive');
      return limited(docs, n);
    }
    case '$count':
      return counted(docs, countName(spec));
    case '$project':
    case '$unset': {
      // The reaper's $currentOp projections, on the documents as they are (path-projection.ts); else the engine.
      const plain = name === '$project' ? plainInclusion(spec) : plainUnset(spec);
      if (plain) return mapped(docs, plain);
      break;
    }
  }
  return engineStage(docs, name, spec, ctx);
}

/** A stage run in mingo, BSON values converted in and out (exported for the differential tests). */
export function engineStage(docs: Iterable<Document>, name: string, spec: unknown, ctx: PipelineContext): Iterable<Document> {
  const stage = { [name]: toEngine(bindNow(spec, ctx.now)) };
  const aggregator = guarded(() => new Aggregator([stage], ENGINE_OPTIONS));
  if (PASS_THROUGH.has(name)) {
    const originals = new Map<object, Document>();
    const input = (function* () {
      for (const d of docs) {
        const e = toEngine(d) as Document;
        originals.set(e, d);
        yield e;
      }
    })();
    return (function* () {
      for (const out of guarded(() => aggregator.stream(input as never))) yield originals.get(out as object) ?? (fromEngine(out) as Document);
    })();
  }
  const pending: Document[] = [];
  const input = (function* () {
    for (const d of docs) {
      if (ONE_TO_ONE.has(name)) pending.push(d);
      yield toEngine(d) as Document;
    }
  })();
  return (function* () {
    for (const out of guarded(() => aggregator.stream(input as never))) yield fromEngine(out, pending.shift()) as Document;
  })();
}

/** Errors raised while documents are pulled (getMore included) are answered as the client's bad input. */
function* guardedIteration(docs: Iterable<Document>): Generator<Document> {
  const it = docs[Symbol.iterator]();
  for (;;) {
    const n = guarded(() => it.next());
    if (n.done) return;
    yield n.value;
  }
}

export function runPipeline(source: Iterable<Document>, stages: Document[], ctx: PipelineContext): Iterable<Document> {
  const names = stages.map(stageName);
  refuseReservedNames(stages, 'pipeline');
  let docs = source;
  stages.forEach((stage, i) => (docs = runStage(docs, names[i]!, stage[names[i]!], ctx)));
  return stages.length ? guardedIteration(docs) : docs;
}
