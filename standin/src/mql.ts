/**
 * Filters, projections, pipeline stages and updates through mingo, the MongoDB query language for
 * JavaScript objects, with three things of the stand-in's own around it:
 *  - BSON values are converted for mingo and back (engine-values.ts);
 *  - `$regex` runs on a linear-time engine (regex.ts): filters are rewritten so that every regex becomes the
 *    operator `$__linearRegex`, and the context holds no operator that would compile a JavaScript RegExp
 *    ($regexMatch, $regexFind, $regexFindAll) or run a script ($where, $function, $accumulator);
 *  - field names JavaScript reserves (`__proto__`, `constructor`, `prototype`) are refused (below).
 * This module holds the operator set, errors, names and filters; pipelines are in mql-stages.ts and updates
 * in mql-updates.ts. The listing stages ($listSessions, $listLocalSessions, $currentOp) are not here: they
 * are the stand-in's own sources (listing.ts), and what follows them runs here.
 */
import { BSONRegExp, type Document } from 'bson';
import { Context } from 'mingo/core';
import { Query } from 'mingo/query';
import { MingoError, resolve } from 'mingo/util';
import * as accumulatorOps from 'mingo/operators/accumulator';
import * as expressionOps from 'mingo/operators/expression';
import * as pipelineOps from 'mingo/operators/pipeline';
import * as projectionOps from 'mingo/operators/projection';
import * as queryOps from 'mingo/operators/query';
import { CommandError } from './errors.ts';
import { BinDataBytes, isPlainDocument, setField, toEngine } from './engine-values.ts';
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

/** A key under which $in finds a value in a Set, or null for a value that needs the engine's own comparison. */
function inKey(v: unknown): string | null {
  if (typeof v === 'string') return `s${v}`;
  if (typeof v === 'number') return `n${v}`;
  if (typeof v === 'boolean') return `b${v}`;
  if (v instanceof BinDataBytes) return `x${v.subType}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  return null;
}

/**
 * $in over a list of strings, numbers, booleans and BinData looks each value up in a Set built once per filter,
 * as the server looks it up in the sorted set of its InMatchExpression (src/mongo/db/matcher/expression_leaf.cpp):
 * mingo's own $in compares every document with the whole list, and a $match of 10,000 lsids over 100,000
 * $currentOp documents (the reaper's re-check before a kill batch) took minutes. Any other list (null, regexes,
 * documents, arrays) goes to mingo's $in unchanged.
 */
function hashedInOperator(selector: string, value: unknown, options: unknown): (doc: unknown) => boolean {
  const fallback = (queryOps as unknown as Record<string, (s: string, v: unknown, o: unknown) => (doc: unknown) => boolean>).$in!;
  if (!Array.isArray(value)) return fallback(selector, value, options);
  const keys = value.map(inKey);
  if (keys.some((k) => k === null)) return fallback(selector, value, options);
  const set = new Set(keys as string[]);
  const hit = (x: unknown): boolean => {
    const k = inKey(x);
    return k !== null && set.has(k);
  };
  return (doc) => {
    const v = resolve(doc as Document, selector, { unwrapArray: true });
    return Array.isArray(v) ? v.some((x) => hit(x) || (Array.isArray(x) && x.some(hit))) : hit(v);
  };
}

/** Stages that run here, after a listing stage or over a collection ($match is the stand-in's, below). */
export const STAGES = ['$project', '$addFields', '$set', '$unset', '$sort', '$skip', '$limit', '$count', '$group', '$unwind',
  '$replaceRoot', '$replaceWith', '$sortByCount', '$sample', '$bucket', '$bucketAuto'];

const CONTEXT = Context.init({
  query: { ...without(queryOps, ['$regex', '$where', '$jsonSchema']), $in: hashedInOperator, $regex: refuseRegexOperator, [LINEAR_REGEX]: linearRegexOperator },
  expression: without(expressionOps, ['$regexMatch', '$regexFind', '$regexFindAll', '$function']),
  accumulator: without(accumulatorOps, ['$accumulator']),
  projection: without(projectionOps, []),
  pipeline: Object.fromEntries(STAGES.map((s) => [s, (pipelineOps as Record<string, unknown>)[s]])),
} as unknown as Parameters<typeof Context.init>[0]);

export const ENGINE_OPTIONS = { context: CONTEXT, scriptEnabled: false };

/** "$$NOW" as the command's time (mingo would read the clock itself): replaced by that date as a literal. */
export function bindNow(spec: unknown, now: Date): unknown {
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

export function guarded<T>(fn: () => T): T {
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

export const isOperatorDoc = (v: unknown): v is Document => isPlainDocument(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k.startsWith('$'));

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

export const isRegex = (v: unknown): boolean => v instanceof BSONRegExp || v instanceof RegExp;

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
export function engineFilter(filter: Document, where: string, now: Date): Document {
  refuseReservedNames(filter, where);
  return toEngine(bindNow(rewriteFilter(filter), now)) as Document;
}

/** A predicate for a query filter (find, count, update, delete, $match, listCollections, currentOp). */
export function compileFilter(filter: Document | null | undefined, where = 'filter', now = new Date()): DocPredicate {
  if (!filter || Object.keys(filter).length === 0) return () => true;
  const query = guarded(() => new Query(engineFilter(filter, where, now), ENGINE_OPTIONS));
  return (doc) => guarded(() => query.test(toEngine(doc) as Document));
}
