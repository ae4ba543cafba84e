/**
 * Filters, projections, pipeline stages and updates through mingo, the MongoDB query language for
 * JavaScript objects, with three things of the stand-in's own around it:
 *  - BSON values are converted for mingo and back (engine-values.ts);
 *  - `$regex` runs on a linear-time engine (regex.ts): filters are rewritten so that every regex becomes the
 *    operator `$__linearRegex`, and the context holds no operator that would compile a JavaScript RegExp
 *    ($regexMatch, $regexFind, $regexFindAll) or run a script ($where, $function, $accumulator);
 *  - field names JavaScript reserves (`__proto__`, `constructor`, `prototype`) are refused (below).
 * The listing stages ($listSessions, $listLocalSessions, $currentOp) are not here: they are the stand-in's
 * own sources (listing.ts), and what follows them runs here.
 */
import { BSON, BSONRegExp, Timestamp, type Document } from 'bson';
import { Aggregator } from 'mingo/aggregator';
import { Context } from 'mingo/core';
import { Query } from 'mingo/query';
import { update as mingoUpdate } from 'mingo/updater';
import { MingoError, resolve } from 'mingo/util';
import * as accumulatorOps from 'mingo/operators/accumulator';
import * as expressionOps from 'mingo/operators/expression';
import * as pipelineOps from 'mingo/operators/pipeline';
import * as projectionOps from 'mingo/operators/projection';
import * as queryOps from 'mingo/operators/query';
import * as updateOps from 'mingo/operators/update';
import { CommandError } from './errors.ts';
import { fromEngine, isPlainDocument, setField, toEngine } from './engine-values.ts';
import { compileRegex, parseRegexOperator, type LinearRegex } from './regex.ts';

export type DocPredicate = (doc: Document) => boolean;

// ---- the operator set ------------------------------------------------------------------------------

const without = <T extends object>(ops: T, names: string[]): Record<string, unknown> =>
  Object.fromEntries(Object.entries(ops).filter(([k]) => k.startsWith('$') && !names.includes(k)));

const LINEAR_REGEX = '$__linearRegex';

/** The field's values (array elements included) tested with a compiled pattern. */
function linearRegexOperator(selector: string, value: LinearRegex): (doc: unknown) => boolean {
  return (doc) => {
    const v = resolve(doc as Document, selector, { unwrapArray: true });
    return Array.isArray(v) ? v.some((x) => value.matches(x) || (Array.isArray(x) && x.some((y) => value.matches(y)))) : value.matches(v);
  };
}

const refuseRegexOperator = (): never => {
  throw new MingoError('internal: $regex reached the engine without being compiled');
};

/** Stages that run here, after a listing stage or over a collection ($match is the stand-in's, below). */
const STAGES = ['$project', '$addFields', '$set', '$unset', '$sort', '$skip', '$limit', '$count', '$group', '$unwind',
  '$replaceRoot', '$replaceWith', '$sortByCount', '$sample', '$bucket', '$bucketAuto'];

const CONTEXT = Context.init({
  query: { ...without(queryOps, ['$regex', '$where', '$jsonSchema']), $regex: refuseRegexOperator, [LINEAR_REGEX]: linearRegexOperator },
  expression: without(expressionOps, ['$regexMatch', '$regexFind', '$regexFindAll', '$function']),
  accumulator: without(accumulatorOps, ['$accumulator']),
  projection: without(projectionOps, []),
  pipeline: Object.fromEntries(STAGES.map((s) => [s, (pipelineOps as Record<string, unknown>)[s]])),
} as unknown as Parameters<typeof Context.init>[0]);

const ENGINE_OPTIONS = { context: CONTEXT, scriptEnabled: false };

/** "$$NOW" as the command's time (mingo would read the clock itself): replaced by that date as a literal. */
function bindNow(spec: unknown, now: Date): unknown {
  if (spec === '$$NOW') return { $literal: now };
  if (Array.isArray(spec)) return spec.map((x) => bindNow(x, now));
  if (!isPlainDocument(spec)) return spec;
  const out: Document = {};
  for (const k of Object.keys(spec)) setField(out, k, bindNow(spec[k], now));
  return out;
}

/** Operators left out of the context on purpose, with the reason given to a client that uses one. */
const REFUSED: Record<string, string> = {
  $where: 'it runs JavaScript', $function: 'it runs JavaScript', $accumulator: 'it runs JavaScript',
  $regexMatch: 'it would run a backtracking JavaScript RegExp; use $match with $regex',
  $regexFind: 'it would run a backtracking JavaScript RegExp', $regexFindAll: 'it would run a backtracking JavaScript RegExp',
  $jsonSchema: 'the stand-in validates no JSON Schema',
};

/**
 * mingo's errors are the client's bad input, answered with the server's codes where the case is the same:
 * unknown query operators BadValue(2) "unknown operator" (expression_parser.cpp), unknown expressions
 * InvalidPipelineOperator(168) "Unrecognized expression" (expression.cpp), a modified _id ImmutableField(66);
 * anything else BadValue with mingo's message.
 */
function asCommandError(e: unknown): unknown {
  if (!(e instanceof MingoError)) return e;
  const refused = Object.keys(REFUSED).find((op) => e.message.includes(`${op} `) || e.message.includes(`'${op}'`) || e.message.endsWith(op));
  if (refused) return new CommandError(2, 'BadValue', `${refused} is not supported by the stand-in: ${REFUSED[refused]}`);
  const unknownOp = /^unknown (?:query|top level) operator:? (\$\S+)/.exec(e.message);
  if (unknownOp) return new CommandError(2, 'BadValue', `unknown operator: ${unknownOp[1]}`);
  const unknownExpr = /'(\$\w+)' is not registered/.exec(e.message);
  if (unknownExpr) return new CommandError(168, 'InvalidPipelineOperator', `Unrecognized expression '${unknownExpr[1]}'`);
  if (e.message.includes('immutable field')) return new CommandError(66, 'ImmutableField', e.message.replace(/\.$/, ''));
  return new CommandError(2, 'BadValue', e.message);
}

function guarded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw asCommandError(e);
  }
}

// ---- reserved field names ---------------------------------------------------------------------------

/**
 * Deliberate divergence: the server stores any field name, but in a JavaScript server `__proto__`,
 * `constructor` and `prototype` as path components are prototype-pollution vectors, and mingo silently
 * ignores some of them. The stand-in refuses them wherever a client names fields: documents, filters,
 * projections, sort keys, pipelines and updates (keys and "$field.path" strings alike).
 */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

export function refuseReservedNames(value: unknown, where: string): void {
  const check = (path: string): void => {
    for (const part of path.replace(/^\$+/, '').split('.')) {
      if (RESERVED.has(part)) {
        throw new CommandError(2, 'BadValue', `${where}: the field name '${part}' (in '${path}') is refused by the stand-in: JavaScript reserves it; rename the field`);
      }
    }
  };
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.startsWith('$')) check(v);
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x);
    } else if (isPlainDocument(v)) {
      for (const k of Object.keys(v)) {
        check(k);
        walk(v[k]);
      }
    }
  };
  walk(value);
}

// ---- filters ------------------------------------------------------------------------------------------

const isOperatorDoc = (v: unknown): v is Document => isPlainDocument(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k.startsWith('$'));

/**
 * A filter with every regex compiled: `{f: /re/}`, `{f: {$regex, $options}}` and `{f: {$not: /re/}}` become
 * `$__linearRegex`; regexes inside `$in`, `$nin` and `$all` become clauses ANDed beside the field
 * (`{f: {$in: [1, /a/]}}` is `{$or: [{f: {$in: [1]}}, {f: /a/}]}`, as the server defines $in).
 */
function rewriteFilter(filter: Document): Document {
  const out: Document = {};
  const extra: Document[] = [];
  for (const [k, v] of Object.entries(filter)) {
    if ((k === '$and' || k === '$or' || k === '$nor') && Array.isArray(v)) {
      setField(out, k, v.map((f) => (isPlainDocument(f) ? rewriteFilter(f) : f)));
    } else if (k === '$comment') {
      // A note for the logs and profiler; matches everything.
    } else if (k.startsWith('$')) {
      setField(out, k, v);
    } else {
      const cond = rewriteCondition(k, v, extra);
      if (cond !== undefined) setField(out, k, cond);
    }
  }
  if (extra.length) out.$and = [...(Array.isArray(out.$and) ? out.$and : []), ...extra];
  return out;
}

/** A regex value, as a request carries it (BSONRegExp) or as code in this process writes it (RegExp). */
function regexValue(v: unknown): LinearRegex | null {
  if (v instanceof BSONRegExp) return compileRegex(v.pattern, v.options);
  if (v instanceof RegExp) return compileRegex(v.source, v.flags.replace(/[gyd]/g, ''));
  return null;
}

const isRegex = (v: unknown): boolean => v instanceof BSONRegExp || v instanceof RegExp;

/** The rewritten condition, or undefined when all of it moved into `extra`. */
function rewriteCondition(path: string, cond: unknown, extra: Document[] | null): unknown {
  const re = regexValue(cond);
  if (re) return { [LINEAR_REGEX]: re };
  if (!isOperatorDoc(cond)) return cond;
  const out: Document = {};
  if ('$regex' in cond) out[LINEAR_REGEX] = parseRegexOperator(cond.$regex, cond.$options);
  else if ('$options' in cond) throw new CommandError(2, 'BadValue', '$options needs a $regex');
  const needsExtra = (): Document[] => {
    if (!extra) throw new CommandError(2, 'BadValue', `regular expressions in $in, $nin or $all under $not or $elemMatch are not supported by the stand-in (field '${path}'); use $or of $regex conditions`);
    return extra;
  };
  for (const [op, arg] of Object.entries(cond)) {
    if (op === '$regex' || op === '$options') continue;
    if (op === '$not') {
      out.$not = rewriteCondition(path, arg, null) ?? {};
    } else if (op === '$elemMatch' && isPlainDocument(arg)) {
      out.$elemMatch = isOperatorDoc(arg) ? (rewriteCondition(path, arg, null) ?? {}) : rewriteFilter(arg);
    } else if ((op === '$in' || op === '$nin' || op === '$all') && Array.isArray(arg) && arg.some(isRegex)) {
      const regexes = arg.filter(isRegex).map((r) => ({ [path]: { [LINEAR_REGEX]: regexValue(r) } }));
      const rest = arg.filter((x) => !isRegex(x));
      if (op === '$all') {
        needsExtra().push(...regexes);
        if (rest.length) out.$all = rest;
      } else {
        const any = [...(rest.length ? [{ [path]: { $in: rest } }] : []), ...regexes];
        needsExtra().push(op === '$in' ? { $or: any } : { $nor: any });
      }
    } else {
      setField(out, op, arg);
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/** A filter as the engine takes it: names checked, regexes compiled, $$NOW bound, values converted. */
function engineFilter(filter: Document, where: string, now: Date): Document {
  refuseReservedNames(filter, where);
  return toEngine(bindNow(rewriteFilter(filter), now)) as Document;
}

/** A predicate for a query filter (find, count, update, delete, $match, listCollections, currentOp). */
export function compileFilter(filter: Document | null | undefined, where = 'filter', now = new Date()): DocPredicate {
  if (!filter || Object.keys(filter).length === 0) return () => true;
  const query = guarded(() => new Query(engineFilter(filter, where, now), ENGINE_OPTIONS));
  return (doc) => guarded(() => query.test(toEngine(doc) as Document));
}

// ---- pipelines ----------------------------------------------------------------------------------------

export interface PipelineContext {
  /** $$NOW. */
  now: Date;
}

/** Stages that hand on their input documents unchanged: the output is the input, object for object. */
const PASS_THROUGH = new Set(['$sort', '$sample']);
/** Stages that map each document to one document: the input is the hint for its output's values. */
const ONE_TO_ONE = new Set(['$project', '$addFields', '$set', '$unset']);

/** The stage name, with the server's errors for a malformed stage (document_source.cpp, pipeline.cpp). */
function stageName(stage: unknown): string {
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
  }
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

// ---- updates ------------------------------------------------------------------------------------------

export interface UpdateOptions {
  /** The document is being inserted by an upsert: $setOnInsert applies. */
  isUpsert?: boolean;
  /** The update's filter, for the positional `$` (the first array element it matched). */
  query?: Document;
  arrayFilters?: Document[];
  now?: Date;
}

/** Pipeline-style updates take these stages (update_driver / pipeline_update: $addFields and the like). */
const UPDATE_STAGES = new Set(['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith']);

const UPDATE_OPERATORS = new Set([...Object.keys(updateOps).filter((k) => k.startsWith('$')), '$setOnInsert']);

/**
 * The document after an update: a replacement document, a pipeline, or update operators (through mingo's
 * updater). The `_id` may not change (ImmutableField 66, update_object_node / replacement_update_node).
 */
export function applyUpdate(doc: Document, update: Document | Document[], options: UpdateOptions = {}): Document {
  refuseReservedNames(update, 'update');
  let result: Document;
  if (Array.isArray(update)) {
    for (const stage of update) {
      const name = stageName(stage);
      if (!UPDATE_STAGES.has(name)) throw new CommandError(72, 'InvalidOptions', `${name} is not allowed to be used within an update`);
    }
    [result] = [...runPipeline([doc], update, { now: options.now ?? new Date() })] as Document[];
    if (!result) throw new CommandError(2, 'BadValue', 'the update pipeline produced no document');
  } else if (!Object.keys(update).some((k) => k.startsWith('$'))) {
    result = doc._id === undefined || update._id !== undefined ? { ...update } : { _id: doc._id, ...update };
  } else {
    const modifier: Document = {};
    for (const [op, arg] of Object.entries(update)) {
      if (!UPDATE_OPERATORS.has(op)) {
        throw new CommandError(9, 'FailedToParse', `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
      }
      if (op === '$setOnInsert') {
        if (options.isUpsert) modifier.$set = { ...(modifier.$set as Document | undefined), ...(arg as Document) };
      } else if (op === '$currentDate' && isPlainDocument(arg)) {
        // The statement's time, not mingo's reading of the clock: {$type: 'timestamp'} or a date.
        const now = options.now ?? new Date();
        const values = Object.fromEntries(Object.entries(arg).map(([k, v]) => [k, isPlainDocument(v) && v.$type === 'timestamp' ? new Timestamp({ t: Math.floor(now.getTime() / 1000), i: 1 }) : now]));
        modifier.$set = { ...(modifier.$set as Document | undefined), ...values };
      } else if (op === '$set' && modifier.$set) {
        modifier.$set = { ...(modifier.$set as Document), ...(arg as Document) };
      } else {
        modifier[op] = arg;
      }
    }
    const now = options.now ?? new Date();
    const target = toEngine(doc) as Document;
    const arrayFilters = options.arrayFilters?.map((f) => engineFilter(f, 'arrayFilters', now));
    const condition = options.query && !options.isUpsert ? engineFilter(options.query, 'filter', now) : undefined;
    const modifiers = toEngine(bindNow(modifier, now)) as never;
    guarded(() => mingoUpdate(target, modifiers, arrayFilters, condition, { queryOptions: ENGINE_OPTIONS }));
    result = fromEngine(target, doc) as Document;
  }
  if (doc._id !== undefined && !sameValue(result._id, doc._id)) {
    throw new CommandError(66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
  }
  return result;
}

function sameValue(a: unknown, b: unknown): boolean {
  return Buffer.from(BSON.serialize({ v: a })).equals(BSON.serialize({ v: b }));
}

/**
 * The document an upsert starts from: the filter's equality conditions on fields, top-level and in $and
 * (update_driver.cpp populateDocumentWithQueryFields; `{a: 1}`, `{a: {$eq: 1}}`, `{'b.c': 2}`).
 */
export function upsertSeed(filter: Document): Document {
  const seed: Document = {};
  const take = (f: Document): void => {
    for (const [k, v] of Object.entries(f)) {
      if (k === '$and' && Array.isArray(v)) {
        for (const sub of v) if (isPlainDocument(sub)) take(sub);
      } else if (!k.startsWith('$')) {
        const value = isOperatorDoc(v) ? ('$eq' in v ? v.$eq : undefined) : isRegex(v) ? undefined : v;
        if (value !== undefined) setPath(seed, k, value);
      }
    }
  };
  take(filter);
  return seed;
}

function setPath(doc: Document, path: string, value: unknown): void {
  const parts = path.split('.');
  let at = doc;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainDocument(at[p])) setField(at, p, {});
    at = at[p] as Document;
  }
  setField(at, parts[parts.length - 1]!, value);
}
