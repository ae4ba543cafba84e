/**
 * Updates: a replacement document, a pipeline (the stages update_driver allows), or update operators through
 * mingo's updater on the converted document, whose untouched values then come back as they were.
 */
import { BSON, Timestamp, type Document } from 'bson';
import { update as mingoUpdate } from 'mingo/updater';
import * as updateOps from 'mingo/operators/update';
import { CommandError } from './errors.ts';
import { fromEngine, isPlainDocument, setField, toEngine } from './engine-values.ts';
import { bindNow, ENGINE_OPTIONS, engineFilter, guarded, isOperatorDoc, isRegex, refuseReservedNames } from './mql.ts';
import { runPipeline, stageName } from './mql-stages.ts';

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
