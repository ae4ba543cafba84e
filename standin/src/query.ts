/**
 * Query filters (`compileFilter`) and updates (`applyUpdate`) for the stand-in mongod.
 *
 * Filters follow the server's match-expression parser and matcher
 * (src/mongo/db/matcher/expression_parser.cpp, expression_leaf.cpp, path.cpp); updates follow the
 * update driver and its nodes (src/mongo/db/update/update_driver.cpp, arithmetic_node.cpp,
 * push_node.cpp, ...). Error codes and messages are the server's; each is cited where it is raised.
 */
import { BSONRegExp, Decimal128, Long, ObjectId, Timestamp } from 'bson';
import { CommandError } from './errors.ts';
import {
  canonicalTypeOrder,
  compareNumbers,
  compareValues,
  deepClone,
  formatElement,
  formatValue,
  getField,
  getNested,
  isDocument,
  isNumeric,
  isTruthy,
  someValueAtPath,
  splitPath,
  toDouble,
  typeName,
  valuesEqual,
  type Document,
} from './bsonutil.ts';
import { compileExpression, compilePipeline } from './pipeline.ts';

export type { Document };
export type DocPredicate = (doc: Document) => boolean;

const badValue = (msg: string): CommandError => new CommandError(2, 'BadValue', msg);
const failedToParse = (msg: string): CommandError => new CommandError(9, 'FailedToParse', msg);

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/**
 * A compiled condition on the values reached by one path. A leaf tests single values and is
 * satisfied when any value reached satisfies it (`traverse` says whether an array at the end of the
 * path is also looked into); `not` negates a conjunction over the whole path, as the server's
 * NotMatchExpression does for $ne, $nin, $not and {$exists: false}.
 */
type Node = { kind: 'leaf'; traverse: boolean; test: (v: unknown) => boolean } | { kind: 'not'; inner: Node[] };

const leaf = (test: (v: unknown) => boolean, traverse = true): Node => ({ kind: 'leaf', traverse, test });

function evalNodesAtPath(nodes: Node[], doc: unknown, parts: string[]): boolean {
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    const ok = n.kind === 'leaf' ? someValueAtPath(doc, parts, n.traverse, n.test) : !evalNodesAtPath(n.inner, doc, parts);
    if (!ok) return false;
  }
  return true;
}

/** matchesSingleElement: the nodes against one value, without path traversal ($elemMatch value form). */
function evalNodesOnValue(nodes: Node[], v: unknown): boolean {
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    const ok = n.kind === 'leaf' ? n.test(v) : !evalNodesOnValue(n.inner, v);
    if (!ok) return false;
  }
  return true;
}

function allOf(preds: DocPredicate[]): DocPredicate {
  if (preds.length === 0) return () => true;
  if (preds.length === 1) return preds[0];
  if (preds.length === 2) {
    const [a, b] = preds;
    return (d) => a(d) && b(d);
  }
  return (d) => {
    for (let i = 0; i < preds.length; i++) if (!preds[i](d)) return false;
    return true;
  };
}

function isRegexValue(v: unknown): v is RegExp | BSONRegExp {
  return v instanceof RegExp || (v !== null && typeof v === 'object' && (v as { _bsontype?: string })._bsontype === 'BSONRegExp');
}

/** expression_parser.cpp isDBRefDocument. */
function isDBRefDocument(obj: Document, allowIncomplete: boolean): boolean {
  const hasRef = Object.prototype.hasOwnProperty.call(obj, '$ref');
  const hasId = Object.prototype.hasOwnProperty.call(obj, '$id');
  const hasDb = Object.prototype.hasOwnProperty.call(obj, '$db');
  return allowIncomplete ? hasRef || hasId || hasDb : hasRef && hasId;
}

/** expression_parser.cpp isExpressionDocument: a non-empty object whose first field starts with '$'. */
function isExpressionDocument(v: unknown, allowIncompleteDBRef = false): v is Document {
  if (!isDocument(v)) return false;
  const keys = Object.keys(v);
  if (keys.length === 0 || keys[0][0] !== '$') return false;
  return !isDBRefDocument(v, allowIncompleteDBRef);
}

/** The operators the parser accepts at the top of a filter (retrievePathlessParser). */
const PATHLESS = new Set(['$and', '$or', '$nor', '$comment', '$expr', '$where', '$text', '$jsonSchema', '$alwaysTrue', '$alwaysFalse', '$sampleRate']);

/**
 * Compile a query filter into a predicate over documents. Throws CommandError for a malformed filter
 * with the server's code and message.
 */
export function compileFilter(filter: Document | null | undefined, options: { now?: Date } = {}): DocPredicate {
  if (filter === null || filter === undefined) return () => true;
  if (!isDocument(filter)) throw badValue('filter must be an object');
  const outer = compileNow;
  // $$NOW in $expr is one value for the whole operation.
  compileNow = options.now ?? outer ?? new Date();
  try {
    return compileDocFilter(filter);
  } finally {
    compileNow = outer;
  }
}

/** The $$NOW of the filter being compiled (compilation is synchronous). */
let compileNow: Date | undefined;

/** Whether `doc` matches `filter` (compiles the filter each call; prefer compileFilter in loops). */
export function matches(filter: Document, doc: Document): boolean {
  return compileFilter(filter)(doc);
}

function compileDocFilter(filter: Document): DocPredicate {
  const preds: DocPredicate[] = [];
  for (const key of Object.keys(filter)) {
    const val = filter[key] === undefined ? null : filter[key];
    if (key[0] === '$') {
      const p = compileTopLevel(key, val);
      if (p) preds.push(p);
      continue;
    }
    const parts = splitPath(key);
    const nodes = compileCondition(key, val);
    preds.push((doc) => evalNodesAtPath(nodes, doc, parts));
  }
  return allOf(preds);
}

function compileTopLevel(key: string, val: unknown): DocPredicate | null {
  switch (key) {
    case '$and':
    case '$or':
    case '$nor': {
      // expression_parser.cpp parseTreeTopLevel.
      if (!Array.isArray(val)) throw badValue(`${key} must be an array`);
      if (val.length === 0) throw badValue('$and/$or/$nor must be a nonempty array');
      const subs = val.map((e) => {
        if (!isDocument(e)) throw badValue('$or/$and/$nor entries need to be full objects');
        return compileDocFilter(e);
      });
      if (key === '$and') return allOf(subs);
      if (key === '$or') return (d) => subs.some((s) => s(d));
      return (d) => !subs.some((s) => s(d));
    }
    case '$comment':
      return null;
    case '$expr': {
      const fn = compileExpression(val);
      const ctx = { now: compileNow ?? new Date() };
      return (d) => isTruthy(fn(d, ctx));
    }
    case '$alwaysTrue':
    case '$alwaysFalse': {
      if (!isNumeric(val) || toDouble(val) !== 1) {
        throw new CommandError(9, 'FailedToParse', `${key} must be an integer value of 1`);
      }
      return key === '$alwaysTrue' ? () => true : () => false;
    }
    case '$where':
    case '$text':
    case '$jsonSchema':
    case '$sampleRate':
      throw new CommandError(238, 'NotImplemented', `${key} is not supported by the stand-in mongod`);
    default: {
      // expression_parser.cpp parse(): the hint differs for $not.
      const hint = key === '$not'
        ? '. If you are trying to negate an entire expression, use $nor.'
        : ". If you have a field name that starts with a '$' symbol, consider using $getField or $setField.";
      throw badValue(`unknown top level operator: ${key}${hint}`);
    }
  }
}

/** The condition on one path: a regex, an operator document, or an equality. */
function compileCondition(path: string, val: unknown): Node[] {
  if (isRegexValue(val)) return [leaf(regexTest(makeRegex(val)))];
  if (isExpressionDocument(val)) return compileOperators(path, val);
  return [leaf(eqTest(val))];
}

/** ComparisonMatchExpression (EQ) on one value: canonical types must agree; null also matches missing. */
export function matchEq(v: unknown, q: unknown): boolean {
  if (q === null || q === undefined) return v === null || v === undefined;
  if (v === q) return true;
  const tq = canonicalTypeOrder(q);
  if (canonicalTypeOrder(v) !== tq) return false;
  return compareValues(v, q) === 0;
}

function eqTest(q: unknown): (v: unknown) => boolean {
  if (q === null || q === undefined) return (v) => v === null || v === undefined;
  if (typeof q === 'string') return (v) => v === q || (typeof v === 'object' && v !== null && canonicalTypeOrder(v) === 15 && compareValues(v, q) === 0);
  if (typeof q === 'number' && !Number.isNaN(q)) {
    return (v) => v === q || (typeof v === 'object' && v !== null && isNumeric(v) && compareNumbers(v, q) === 0);
  }
  if (typeof q === 'boolean') return (v) => v === q;
  return (v) => matchEq(v, q);
}

function isNaNValue(v: unknown): boolean {
  return isNumeric(v) && Number.isNaN(toDouble(v));
}

type CmpOp = '$gt' | '$gte' | '$lt' | '$lte';

/**
 * $gt/$gte/$lt/$lte on one value, with type bracketing (ComparisonMatchExpression::matchesSingleElement
 * in expression_leaf.cpp): values of another canonical type never match, except that null and
 * missing are equal for $gte/$lte, and MinKey/MaxKey bounds match everything on their side.
 */
function cmpTest(op: CmpOp, q: unknown): (v: unknown) => boolean {
  const tq = canonicalTypeOrder(q);
  const qNaN = isNaNValue(q);
  const inclusive = op === '$gte' || op === '$lte';
  return (v) => {
    const tv = canonicalTypeOrder(v);
    if (tv !== tq) {
      if (tv + tq === 5) return inclusive; // null (5) against missing/undefined (0)
      if (tq === 127) return op === '$lt' || op === '$lte';
      if (tq === -1) return op === '$gt' || op === '$gte';
      return false;
    }
    if (tq === 10) {
      const vNaN = isNaNValue(v);
      if (vNaN || qNaN) return inclusive && vNaN && qNaN;
    }
    const c = compareValues(v, q);
    switch (op) {
      case '$gt':
        return c > 0;
      case '$gte':
        return c >= 0;
      case '$lt':
        return c < 0;
      default:
        return c <= 0;
    }
  };
}

interface CompiledRegex {
  re: RegExp;
  pattern: string;
  flags: string;
}

/** Strip whitespace and #-comments outside character classes (PCRE's extended mode, option 'x'). */
function stripExtended(src: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\' && i + 1 < src.length) {
      out += c + src[++i];
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
    } else if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (!/\s/.test(c)) {
      out += c;
    }
  }
  return out;
}

function compileRegex(pattern: string, flags: string): CompiledRegex {
  let jsFlags = '';
  let source = pattern;
  for (const f of flags) {
    // RegexMatchExpression::kValidRegexFlags = {i, m, s, x} (expression_leaf.cpp); 'u' is accepted
    // for compatibility (PCRE's UTF mode is always on in the server).
    if (f === 'i' || f === 'm' || f === 's') {
      if (!jsFlags.includes(f)) jsFlags += f;
    } else if (f === 'x') {
      source = stripExtended(source);
    } else if (f !== 'u') {
      throw new CommandError(51108, 'Location51108', `invalid flag in regex options: ${f}`);
    }
  }
  if (pattern.includes('\0')) throw badValue('Regular expression cannot contain an embedded null byte');
  try {
    return { re: new RegExp(source, jsFlags), pattern, flags };
  } catch (e) {
    throw new CommandError(51091, 'Location51091', `Regular expression is invalid: ${(e as Error).message}`);
  }
}

function makeRegex(v: RegExp | BSONRegExp): CompiledRegex {
  if (v instanceof RegExp) return compileRegex(v.source, v.flags.replace(/[gyd]/g, ''));
  return compileRegex(v.pattern, v.options);
}

/** RegexMatchExpression::matchesSingleElement: strings and symbols by pattern, regexes by equality. */
function regexTest(r: CompiledRegex): (v: unknown) => boolean {
  return (v) => {
    if (typeof v === 'string') return r.re.test(v);
    if (v === null || typeof v !== 'object') return false;
    if ((v as { _bsontype?: string })._bsontype === 'BSONSymbol') return r.re.test(String((v as { value: unknown }).value));
    if (v instanceof RegExp) return v.source === r.pattern && v.flags.replace(/[gyd]/g, '') === r.flags;
    if (isRegexValue(v)) return (v as BSONRegExp).pattern === r.pattern && (v as BSONRegExp).options === r.flags;
    return false;
  };
}

/** expression_parser.cpp parseRegexDocument: $regex (string or regex) with optional $options. */
function parseRegexDocument(doc: Document): CompiledRegex {
  let pattern = '';
  let options = '';
  for (const k of Object.keys(doc)) {
    const e = doc[k];
    if (k === '$regex') {
      if (typeof e === 'string') pattern = e;
      else if (isRegexValue(e)) {
        const r = makeRegex(e);
        pattern = r.pattern;
        if (r.flags) {
          if (options) throw new CommandError(51074, 'Location51074', 'options set in both $regex and $options');
          options = r.flags;
        }
      } else throw badValue('$regex has to be a string');
    } else if (k === '$options') {
      if (typeof e !== 'string') throw badValue('$options has to be a string');
      if (options) throw new CommandError(51075, 'Location51075', 'options set in both $regex and $options');
      options = e;
    }
  }
  return compileRegex(pattern, options);
}

/** parseIntegerElementToNonNegativeLong / ToLong reasons, as bsonelement.cpp words them. */
function parseNonNegativeInteger(name: string, v: unknown): { value: number } | { reason: string } {
  const elem = formatElement(name, v);
  if (!isNumeric(v)) return { reason: `Expected a number in: ${elem}` };
  const d = toDouble(v);
  if (Number.isNaN(d)) return { reason: `Expected an integer, but found NaN in: ${elem}` };
  if (!Number.isInteger(d)) return { reason: `Expected an integer: ${elem}` };
  if (d < 0) return { reason: `Expected a non-negative number in: ${elem}` };
  return { value: d };
}

/** $in / $nin: equalities (null matches missing) and regexes (parseInExpression). */
function inTest(arr: unknown[]): (v: unknown) => boolean {
  const strings = new Set<string>();
  const numbers = new Set<number>();
  const others: unknown[] = [];
  const regexes: CompiledRegex[] = [];
  let hasNull = false;
  for (const e of arr) {
    if (isRegexValue(e)) regexes.push(makeRegex(e));
    else if (isExpressionDocument(e)) throw badValue('cannot nest $ under $in');
    else if (e === null || e === undefined) hasNull = true;
    else if (typeof e === 'string') strings.add(e);
    else if (typeof e === 'number' && !Number.isNaN(e)) numbers.add(e);
    else others.push(e);
  }
  const regexMatch = regexes.map(regexTest);
  return (v) => {
    if (v === null || v === undefined) return hasNull;
    if (typeof v === 'string') {
      if (strings.has(v)) return true;
    } else if (typeof v === 'number') {
      if (numbers.has(v)) return true;
      if (!Number.isNaN(v)) {
        for (const o of others) if (matchEq(v, o)) return true;
        return false;
      }
    } else if (isNumeric(v)) {
      for (const n of numbers) if (compareNumbers(v, n) === 0) return true;
    } else if (canonicalTypeOrder(v) === 15) {
      for (const s of strings) if (compareValues(v, s) === 0) return true;
    }
    for (const r of regexMatch) if (r(v)) return true;
    for (const o of others) if (matchEq(v, o)) return true;
    return false;
  };
}

/** $type aliases and codes (src/mongo/bson/bsontypes.cpp, matcher_type_set.cpp). */
const TYPE_CODES: Record<string, number> = {
  double: 1, string: 2, object: 3, array: 4, binData: 5, undefined: 6, objectId: 7, bool: 8, date: 9,
  null: 10, regex: 11, dbPointer: 12, javascript: 13, symbol: 14, javascriptWithScope: 15, int: 16,
  timestamp: 17, long: 18, decimal: 19, minKey: -1, maxKey: 127,
};
const TYPE_BY_CODE = new Map<number, string>(Object.entries(TYPE_CODES).map(([k, v]) => [v, k]));

/** MatcherTypeSet::parse: a type alias or code, or an array of them. */
export function parseTypeSet(path: string, arg: unknown): { names: Set<string>; allNumbers: boolean } {
  const list = Array.isArray(arg) ? arg : [arg];
  const names = new Set<string>();
  let allNumbers = false;
  for (const t of list) {
    if (typeof t === 'string') {
      if (t === 'number') allNumbers = true;
      else if (t in TYPE_CODES) names.add(t);
      else throw badValue(`Unknown type name alias: ${t}`);
    } else if (isNumeric(t)) {
      const code = toDouble(t);
      const name = Number.isInteger(code) ? TYPE_BY_CODE.get(code) : undefined;
      if (name === undefined) throw badValue(`Invalid numerical type code: ${formatValue(t)}`);
      names.add(name);
    } else {
      throw new CommandError(14, 'TypeMismatch', 'type must be represented as a number or a string');
    }
  }
  if (names.size === 0 && !allNumbers) throw failedToParse(`${path} must match at least one type`);
  return { names, allNumbers };
}

function compileElemMatch(arg: unknown): (v: unknown) => boolean {
  // expression_parser.cpp parseElemMatch: the value form when the argument is an operator document
  // whose first operator is not a pathless (top-level) one; the object form otherwise.
  if (!isDocument(arg)) throw badValue('$elemMatch needs an Object');
  let elementMatches: (e: unknown) => boolean;
  if (isExpressionDocument(arg, true) && !PATHLESS.has(Object.keys(arg)[0])) {
    const nodes = compileOperators('', arg);
    elementMatches = (e) => evalNodesOnValue(nodes, e);
  } else {
    if (Object.prototype.hasOwnProperty.call(arg, '$where')) throw badValue('$elemMatch cannot contain $where expression');
    const sub = compileDocFilter(arg);
    elementMatches = (e) => (isDocument(e) || Array.isArray(e)) && sub(e as Document);
  }
  return (v) => Array.isArray(v) && v.some(elementMatches);
}

function compileOperators(path: string, ops: Document): Node[] {
  const nodes: Node[] = [];
  let regexDone = false;
  for (const op of Object.keys(ops)) {
    const arg = ops[op] === undefined ? null : ops[op];
    // expression_parser.cpp parseSubField.
    switch (op) {
      case '$eq':
        nodes.push(leaf(eqTest(arg)));
        break;
      case '$ne':
        if (isRegexValue(arg)) throw badValue("Can't have regex as arg to $ne.");
        nodes.push({ kind: 'not', inner: [leaf(eqTest(arg))] });
        break;
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        if (isRegexValue(arg)) throw badValue(`Can't have RegEx as arg to predicate over field '${path}'.`);
        nodes.push(leaf(cmpTest(op, arg)));
        break;
      case '$in':
        if (!Array.isArray(arg)) throw badValue('$in needs an array');
        nodes.push(leaf(inTest(arg)));
        break;
      case '$nin':
        if (!Array.isArray(arg)) throw badValue('$nin needs an array');
        nodes.push({ kind: 'not', inner: [leaf(inTest(arg))] });
        break;
      case '$exists': {
        const exists = leaf((v) => v !== undefined);
        nodes.push(trueValue(arg) ? exists : { kind: 'not', inner: [exists] });
        break;
      }
      case '$type': {
        const { names, allNumbers } = parseTypeSet(path, arg);
        nodes.push(leaf((v) => v !== undefined && (names.has(typeName(v)) || (allNumbers && isNumeric(v)))));
        break;
      }
      case '$regex':
        if (!regexDone) nodes.push(leaf(regexTest(parseRegexDocument(ops))));
        regexDone = true;
        break;
      case '$options':
        if (!Object.prototype.hasOwnProperty.call(ops, '$regex')) throw badValue('$options needs a $regex');
        break;
      case '$not': {
        if (isRegexValue(arg)) {
          nodes.push({ kind: 'not', inner: [leaf(regexTest(makeRegex(arg)))] });
          break;
        }
        if (!isDocument(arg)) throw badValue('$not needs a regex or a document');
        if (Object.keys(arg).length === 0) throw badValue('$not cannot be empty');
        nodes.push({ kind: 'not', inner: compileOperators(path, arg) });
        break;
      }
      case '$size': {
        const n = parseNonNegativeInteger('$size', arg);
        if ('reason' in n) throw badValue(`Failed to parse $size. ${n.reason}`);
        nodes.push(leaf((v) => Array.isArray(v) && v.length === n.value, false));
        break;
      }
      case '$elemMatch':
        nodes.push(leaf(compileElemMatch(arg), false));
        break;
      case '$all':
        nodes.push(...compileAll(arg));
        break;
      case '$mod':
        nodes.push(leaf(compileMod(arg)));
        break;
      case '$where':
        throw badValue('$where cannot be applied to a field');
      default:
        throw badValue(`unknown operator: ${op}`);
    }
  }
  return nodes;
}

/** BSONElement::trueValue. */
function trueValue(v: unknown): boolean {
  if (v === null || v === undefined || v === false) return false;
  if (isNumeric(v)) return toDouble(v) !== 0;
  return true;
}

/** expression_parser.cpp parseAll. */
function compileAll(arg: unknown): Node[] {
  if (!Array.isArray(arg)) throw badValue('$all needs an array');
  if (arg.length === 0) return [leaf(() => false)];
  const first = arg[0];
  if (isDocument(first) && Object.keys(first)[0] === '$elemMatch') {
    return arg.map((e) => {
      if (!isDocument(e) || Object.keys(e)[0] !== '$elemMatch') throw badValue('$all/$elemMatch has to be consistent');
      return leaf(compileElemMatch(e.$elemMatch), false);
    });
  }
  return arg.map((e) => {
    if (isRegexValue(e)) return leaf(regexTest(makeRegex(e)));
    if (isDocument(e) && (Object.keys(e)[0] ?? '')[0] === '$') throw badValue('no $ expressions in $all');
    return leaf(eqTest(e));
  });
}

/** expression_parser.cpp parseMOD and ModMatchExpression::matchesSingleElement. */
function compileMod(arg: unknown): (v: unknown) => boolean {
  if (!Array.isArray(arg)) throw badValue('malformed mod, needs to be an array');
  if (arg.length < 2) throw badValue('malformed mod, not enough elements');
  if (arg.length > 2) throw badValue('malformed mod, too many elements');
  if (!isNumeric(arg[0])) throw badValue('malformed mod, divisor not a number');
  if (!isNumeric(arg[1])) throw badValue('malformed mod, remainder not a number');
  const divisor = Math.trunc(toDouble(arg[0]));
  const remainder = Math.trunc(toDouble(arg[1]));
  if (divisor === 0) throw badValue('divisor cannot be 0');
  return (v) => {
    if (!isNumeric(v)) return false;
    const d = toDouble(v);
    if (!Number.isFinite(d)) return false;
    return Math.trunc(d) % divisor === remainder;
  };
}

// ---------------------------------------------------------------------------------------------
// Updates
// ---------------------------------------------------------------------------------------------

export interface UpdateOptions {
  /** The update inserts a new document (an upsert that matched nothing): $setOnInsert applies and the document is seeded from `query`. */
  isUpsert?: boolean;
  /** The update's filter: used for the positional `$` operator and to seed upserts. */
  query?: Document;
  /** arrayFilters for `$[<identifier>]`. */
  arrayFilters?: Document[];
  /** The time for $currentDate and $$NOW (default: now). */
  now?: Date;
}

/** The modifiers of src/mongo/db/update/modifier_table.cpp. */
const MODIFIERS = new Set([
  '$set', '$unset', '$inc', '$mul', '$min', '$max', '$push', '$addToSet', '$pull', '$pullAll', '$pop',
  '$rename', '$currentDate', '$setOnInsert', '$bit',
]);

/** Stages allowed in a pipeline-style update (DocumentSource constraints isAllowedWithinUpdatePipeline). */
const UPDATE_PIPELINE_STAGES = new Set(['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith']);

export function isArrayIndex(part: string): boolean {
  return part.length > 0 && /^[0-9]+$/.test(part);
}

/** `{_id: <value>}` as update errors print the document's id. */
function idText(doc: Document): string {
  return `{${formatElement('_id', getField(doc, '_id'))}}`;
}

/**
 * Apply an update to a document and return the updated copy (the input is not modified).
 *
 * `update` is an operator document ({$set: ...}), a replacement document, or an array of pipeline
 * stages. With `isUpsert`, `doc` (normally `{}` or null) is seeded with the equality fields of
 * `options.query`, $setOnInsert applies, and the result gets an ObjectId `_id` when it has none, with
 * `_id` moved first, as mongod inserts it.
 */
export function applyUpdate(doc: Document | null, update: Document | Document[], options: UpdateOptions = {}): Document {
  const isInsert = options.isUpsert === true;
  const original: Document = doc ?? {};
  if (Array.isArray(update)) return applyPipelineUpdate(original, update, options);
  if (!isDocument(update)) throw failedToParse('Update argument must be either an object or an array');
  const keys = Object.keys(update);
  if (keys.length > 0 && keys[0][0] === '$') return applyOperatorUpdate(original, update, options);

  // Replacement (update_driver.cpp: a document whose first field does not start with '$').
  for (const k of keys) {
    if (k[0] === '$') {
      // storage_validation.cpp, for replacement documents.
      throw new CommandError(52, 'DollarPrefixedFieldName', `The dollar ($) prefixed field '${k}' in '${k}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`);
    }
  }
  const replacement = deepClone(update);
  if (isInsert) {
    // extractFullEqualityMatches over the immutable paths: only _id is taken from the query.
    if (replacement._id === undefined) {
      const seeded = upsertSeed(options.query ?? {});
      if (seeded._id !== undefined) replacement._id = seeded._id;
    }
    return finishInsert(replacement);
  }
  return keepImmutableId(original, replacement);
}

/** ObjectReplaceExecutor: the replacement keeps the original _id, which may not change. */
function keepImmutableId(original: Document, replacement: Document): Document {
  const oldId = getField(original, '_id');
  if (oldId === undefined) return replacement;
  const newId = getField(replacement, '_id');
  if (newId !== undefined && !valuesEqual(newId, oldId)) {
    throw new CommandError(66, 'ImmutableField', `After applying the update, the (immutable) field '_id' was found to have been altered to ${formatElement('_id', newId)}`);
  }
  const out: Document = { _id: deepClone(oldId) };
  for (const k of Object.keys(replacement)) if (k !== '_id') out[k] = replacement[k];
  return out;
}

/** A new document as mongod inserts it: `_id` first, generated when absent. */
function finishInsert(d: Document): Document {
  const id = getField(d, '_id');
  const out: Document = { _id: id === undefined ? new ObjectId() : id };
  for (const k of Object.keys(d)) if (k !== '_id' && d[k] !== undefined) out[k] = d[k];
  return out;
}

/**
 * The document an upsert starts from: the equality predicates of the query (top-level fields and
 * $and, single-clause $or, {$eq: v}, single-value $in), dotted paths expanded
 * (update_driver.cpp populateDocumentWithQueryFields, pathsupport::extractEqualityMatches).
 */
export function upsertSeed(query: Document): Document {
  const pairs: Array<[string, unknown]> = [];
  const collect = (q: Document): void => {
    for (const k of Object.keys(q)) {
      const v = q[k];
      if (k === '$and' && Array.isArray(v)) {
        for (const sub of v) if (isDocument(sub)) collect(sub);
      } else if (k === '$or' && Array.isArray(v) && v.length === 1 && isDocument(v[0])) {
        collect(v[0]);
      } else if (k[0] === '$' || k.split('.').some((p) => p[0] === '$')) {
        continue;
      } else if (isRegexValue(v)) {
        continue;
      } else if (isExpressionDocument(v)) {
        if (Object.prototype.hasOwnProperty.call(v, '$eq') && !isRegexValue(v.$eq)) pairs.push([k, v.$eq]);
        else if (Array.isArray(v.$in) && v.$in.length === 1 && !isRegexValue(v.$in[0])) pairs.push([k, v.$in[0]]);
      } else {
        pairs.push([k, v]);
      }
    }
  };
  collect(query);
  const out: Document = {};
  for (const [path, value] of pairs) {
    const parts = splitPath(path);
    let cur: Document = out;
    let ok = true;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = getField(cur, parts[i]);
      if (next === undefined) cur = cur[parts[i]] = {};
      else if (isDocument(next)) cur = next;
      else {
        ok = false;
        break;
      }
    }
    const last = parts[parts.length - 1];
    if (ok && getField(cur, last) === undefined) cur[last] = deepClone(value === undefined ? null : value);
  }
  return out;
}

interface UpdateEntry {
  op: string;
  path: string;
  parts: string[];
  arg: unknown;
  order: number;
}

function validateUpdatePath(path: string): string[] {
  const parts = splitPath(path);
  if (path.length === 0 || parts.some((p) => p.length === 0)) {
    // update_object_node.cpp / field_ref checks.
    if (path.length === 0) throw new CommandError(56, 'EmptyFieldName', "An empty update path is not valid.");
    throw new CommandError(56, 'EmptyFieldName', `The update path '${path}' contains an empty field name, which is not allowed.`);
  }
  if (parts.filter((p) => p === '$').length > 1) throw badValue(`Too many positional (i.e. '$') elements found in path '${path}'`);
  return parts;
}

function comparePaths(a: string[], b: string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] === b[i]) continue;
    if (isArrayIndex(a[i]) && isArrayIndex(b[i])) return Number(a[i]) - Number(b[i]);
    return a[i] < b[i] ? -1 : 1;
  }
  return a.length - b.length;
}

function isPrefixPath(a: string[], b: string[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function parseOperatorUpdate(update: Document, isInsert: boolean): UpdateEntry[] {
  const entries: UpdateEntry[] = [];
  const claimed: Array<{ path: string; parts: string[] }> = [];
  const claim = (path: string, parts: string[]): void => {
    for (const c of claimed) {
      // UpdateObjectNode::parseAndMerge: a path may not equal or prefix another.
      if (isPrefixPath(c.parts, parts) || isPrefixPath(parts, c.parts)) {
        const shorter = c.parts.length <= parts.length ? c.path : path;
        throw new CommandError(40, 'ConflictingUpdateOperators', `Updating the path '${path}' would create a conflict at '${shorter}'`);
      }
    }
    claimed.push({ path, parts });
  };
  let order = 0;
  for (const op of Object.keys(update)) {
    const spec = update[op];
    // update_driver.cpp validateMod.
    if (!MODIFIERS.has(op)) {
      throw failedToParse(`Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
    }
    if (!isDocument(spec)) {
      throw failedToParse(`Modifiers operate on fields but we found type ${typeName(spec)} instead. For example: {$mod: {<field>: ...}} not {${formatElement(op, spec)}}`);
    }
    for (const path of Object.keys(spec)) {
      const arg = spec[path] === undefined ? null : spec[path];
      const parts = validateUpdatePath(path);
      validateModifierArgument(op, path, arg);
      if (op === '$setOnInsert' && !isInsert) {
        claim(path, parts);
        continue;
      }
      claim(path, parts);
      if (op === '$rename') claim(arg as string, validateUpdatePath(arg as string));
      entries.push({ op, path, parts, arg, order: order++ });
    }
  }
  // UpdateObjectNode keeps its children in field-name order, so new fields are created in that order.
  entries.sort((a, b) => comparePaths(a.parts, b.parts) || a.order - b.order);
  return entries;
}

/** The ModifierNode::init checks on each argument. */
function validateModifierArgument(op: string, path: string, arg: unknown): void {
  switch (op) {
    case '$inc':
    case '$mul':
      if (!isNumeric(arg)) {
        // arithmetic_node.cpp ArithmeticNode::init.
        throw new CommandError(14, 'TypeMismatch', `Cannot ${op === '$inc' ? 'increment' : 'multiply'} with non-numeric argument: {${formatElement(path, arg)}}`);
      }
      break;
    case '$rename':
      // rename_node.cpp.
      if (typeof arg !== 'string') throw badValue(`The 'to' field for $rename must be a string: ${formatElement(path, arg)}`);
      if (arg === path) throw badValue(`The source and target field for $rename must differ: ${formatElement(path, arg)}`);
      if (path.includes('$') || arg.includes('$')) throw badValue(`The source field for $rename may not be dynamic: ${path}`);
      break;
    case '$pop':
      if (!isNumeric(arg) || (toDouble(arg) !== 1 && toDouble(arg) !== -1)) {
        throw failedToParse(`$pop expects 1 or -1, found: ${formatValue(arg)}`);
      }
      break;
    case '$pullAll':
      if (!Array.isArray(arg)) throw badValue(`$pullAll requires an array argument but was given a ${typeName(arg)}`);
      break;
    case '$currentDate': {
      const ok = typeof arg === 'boolean' || (isDocument(arg) && Object.keys(arg).length === 1 && (arg.$type === 'date' || arg.$type === 'timestamp'));
      if (!ok) throw badValue("The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}");
      break;
    }
    case '$push':
    case '$addToSet':
      if (isDocument(arg) && Object.prototype.hasOwnProperty.call(arg, '$each')) {
        if (!Array.isArray(arg.$each)) {
          throw badValue(`The argument to $each in ${op} must be an array but it was of type: ${typeName(arg.$each)}`);
        }
        for (const k of Object.keys(arg)) {
          if (k === '$each') continue;
          if (op === '$addToSet') throw badValue(`Found unexpected fields after $each in $addToSet: ${formatValue(arg)}`);
          if (k !== '$slice' && k !== '$sort' && k !== '$position') throw badValue(`Unrecognized clause in $push: ${k}`);
        }
      }
      break;
    case '$bit':
      if (!isDocument(arg) || Object.keys(arg).length === 0) {
        throw badValue(`The $bit modifier is not compatible with a ${typeName(arg)}. You must pass in an embedded document: {$bit: {field: {and/or/xor: #}}`);
      }
      for (const k of Object.keys(arg)) {
        if (k !== 'and' && k !== 'or' && k !== 'xor') throw badValue(`The $bit modifier only supports 'and', 'or', and 'xor', not '${k}' which is an unknown operator: {${formatElement(k, arg[k])}}`);
        if (!isNumeric(arg[k]) || typeName(arg[k]) === 'double' || typeName(arg[k]) === 'decimal') {
          throw badValue(`The $bit modifier field must be an Integer(32/64 bit); a '${typeName(arg[k])}' is not supported here: {${formatElement(k, arg[k])}}`);
        }
      }
      break;
  }
}

interface UpdateState {
  root: Document;
  isInsert: boolean;
  now: Date;
  query: Document;
  arrayFilters: Map<string, (el: unknown) => boolean>;
  tsCounter: number;
}

function applyOperatorUpdate(original: Document, update: Document, options: UpdateOptions): Document {
  const isInsert = options.isUpsert === true;
  const entries = parseOperatorUpdate(update, isInsert);
  const root = deepClone(original);
  if (isInsert) {
    const seed = upsertSeed(options.query ?? {});
    for (const k of Object.keys(seed)) if (getField(root, k) === undefined) root[k] = seed[k];
  }
  const state: UpdateState = {
    root,
    isInsert,
    now: options.now ?? new Date(),
    query: options.query ?? {},
    arrayFilters: parseArrayFilters(options.arrayFilters),
    tsCounter: 0,
  };
  for (const e of entries) {
    for (const parts of expandPositional(state, e.parts, e.path)) applyEntry(state, e, parts);
  }
  if (isInsert) return finishInsert(root);
  const oldId = getField(original, '_id');
  if (oldId !== undefined) {
    const newId = getField(root, '_id');
    if (newId === undefined || !valuesEqual(newId, oldId) || canonicalTypeOrder(newId) !== canonicalTypeOrder(oldId)) {
      // modifier_node.cpp checkImmutablePathsNotModified.
      throw new CommandError(66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
    }
  }
  return root;
}

function parseArrayFilters(filters: Document[] | undefined): Map<string, (el: unknown) => boolean> {
  const out = new Map<string, (el: unknown) => boolean>();
  for (const f of filters ?? []) {
    if (!isDocument(f)) throw failedToParse('Cannot use an expression without a top-level field name in arrayFilters');
    let id: string | undefined;
    const rewritten: Document = {};
    for (const k of Object.keys(f)) {
      const [first, ...rest] = splitPath(k);
      if (id !== undefined && first !== id) {
        throw failedToParse(`Error parsing array filter :: caused by :: Expected a single top-level field name, found '${id}' and '${first}'`);
      }
      id = first;
      rewritten[['v', ...rest].join('.')] = f[k];
    }
    if (id === undefined) throw failedToParse('Cannot use an expression without a top-level field name in arrayFilters');
    if (out.has(id)) throw failedToParse(`Found multiple array filters with the same top-level field name ${id}`);
    const pred = compileFilter(rewritten);
    out.set(id, (el) => pred({ v: el }));
  }
  return out;
}

/** The element index the positional `$` stands for: the first element that satisfies the query's conditions on that array. */
function positionalIndex(state: UpdateState, arrayParts: string[]): number | undefined {
  const arr = getNested(state.root, arrayParts);
  if (!Array.isArray(arr)) return undefined;
  const prefix = arrayParts.join('.');
  const conds: Array<(el: unknown) => boolean> = [];
  const collect = (q: Document): void => {
    for (const k of Object.keys(q)) {
      const v = q[k];
      if (k === '$and' && Array.isArray(v)) {
        for (const sub of v) if (isDocument(sub)) collect(sub);
      } else if (k === prefix) {
        if (isDocument(v) && Object.keys(v).length === 1 && isDocument(v.$elemMatch)) {
          const test = compileElemMatch(v.$elemMatch);
          conds.push((el) => test([el]));
        } else {
          const pred = compileFilter({ v });
          conds.push((el) => pred({ v: el }));
        }
      } else if (k.startsWith(prefix + '.')) {
        const pred = compileFilter({ [k.slice(prefix.length + 1)]: v });
        conds.push((el) => (isDocument(el) || Array.isArray(el)) && pred(el as Document));
      }
    }
  };
  collect(state.query);
  if (conds.length === 0) return undefined;
  for (let i = 0; i < arr.length; i++) if (conds.every((c) => c(arr[i]))) return i;
  return undefined;
}

/** Resolve `$`, `$[]` and `$[<id>]` into concrete paths against the current document. */
function expandPositional(state: UpdateState, parts: string[], path: string): string[][] {
  if (!parts.some((p) => p[0] === '$')) return [parts];
  let resolved = parts;
  const dollar = parts.indexOf('$');
  if (dollar >= 0) {
    const index = dollar === 0 ? undefined : positionalIndex(state, parts.slice(0, dollar));
    if (index === undefined) throw badValue('The positional operator did not find the match needed from the query.');
    resolved = [...parts.slice(0, dollar), String(index), ...parts.slice(dollar + 1)];
  }
  const out: string[][] = [];
  const expand = (prefix: string[], i: number): void => {
    if (i === resolved.length) {
      out.push(prefix);
      return;
    }
    const part = resolved[i];
    const m = /^\$\[(.*)\]$/.exec(part);
    if (!m) {
      expand([...prefix, part], i + 1);
      return;
    }
    const id = m[1];
    let test: (el: unknown) => boolean = () => true;
    if (id !== '') {
      const f = state.arrayFilters.get(id);
      if (!f) throw badValue(`No array filter found for identifier '${id}' in path '${path}'`);
      test = f;
    }
    const arr = getNestedThroughArrays(state.root, prefix);
    if (arr === undefined) {
      if (state.isInsert) return;
      throw badValue(`The path '${prefix.join('.')}' must exist in the document in order to apply array updates.`);
    }
    if (!Array.isArray(arr)) throw badValue(`Cannot apply array updates to non-array element ${formatElement(prefix[prefix.length - 1], arr)}`);
    for (let k = 0; k < arr.length; k++) if (test(arr[k])) expand([...prefix, String(k)], i + 1);
  };
  expand([], 0);
  return out;
}

function getNestedThroughArrays(root: Document, parts: string[]): unknown {
  let cur: unknown = root;
  for (const p of parts) {
    if (isDocument(cur)) cur = getField(cur, p);
    else if (Array.isArray(cur) && isArrayIndex(p)) cur = cur[Number(p)];
    else return undefined;
  }
  return cur;
}

type Container = Document | unknown[];

function getChild(parent: Container, key: string): unknown {
  if (Array.isArray(parent)) return isArrayIndex(key) ? parent[Number(key)] : undefined;
  return getField(parent, key);
}

function setChild(parent: Container, key: string, value: unknown): void {
  if (Array.isArray(parent)) {
    const idx = Number(key);
    // Setting past the end pads the array with nulls.
    while (parent.length < idx) parent.push(null);
    parent[idx] = value;
  } else {
    parent[key] = value;
  }
}

function removeChild(parent: Container, key: string): void {
  // $unset of an array element leaves null in its place (unset_node.cpp).
  if (Array.isArray(parent)) parent[Number(key)] = null;
  else delete parent[key];
}

/**
 * Walk to the parent of the last path part. Missing intermediate fields are created as documents
 * when `create`; a scalar in the way is PathNotViable for creating modifiers and a no-op otherwise.
 */
function locate(root: Document, parts: string[], create: boolean): { parent: Container; key: string } | null {
  let parent: Container = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i];
    if (Array.isArray(parent) && !isArrayIndex(key)) {
      if (!create) return null;
      throw new CommandError(28, 'PathNotViable', `Cannot create field '${key}' in element {${formatElement(parts[i - 1], parent)}}`);
    }
    let next = getChild(parent, key);
    if (next === undefined) {
      if (!create) return null;
      next = {};
      setChild(parent, key, next);
    } else if (!isDocument(next) && !Array.isArray(next)) {
      if (!create) return null;
      throw new CommandError(28, 'PathNotViable', `Cannot create field '${parts[i + 1]}' in element {${formatElement(key, next)}}`);
    }
    parent = next as Container;
  }
  const last = parts[parts.length - 1];
  if (Array.isArray(parent) && !isArrayIndex(last)) {
    if (!create) return null;
    throw new CommandError(28, 'PathNotViable', `Cannot create field '${last}' in element {${formatElement(parts[parts.length - 2], parent)}}`);
  }
  return { parent, key: last };
}

const CREATING = new Set(['$set', '$setOnInsert', '$inc', '$mul', '$min', '$max', '$push', '$addToSet', '$currentDate', '$bit']);

function applyEntry(state: UpdateState, e: UpdateEntry, parts: string[]): void {
  const at = locate(state.root, parts, CREATING.has(e.op));
  if (!at) return;
  const { parent, key } = at;
  const cur = getChild(parent, key);
  const arg = e.arg;
  switch (e.op) {
    case '$set':
    case '$setOnInsert':
      setChild(parent, key, deepClone(arg));
      return;
    case '$unset':
      if (cur !== undefined) removeChild(parent, key);
      return;
    case '$inc':
    case '$mul': {
      if (cur === undefined) {
        setChild(parent, key, e.op === '$inc' ? arg : multiplyNumbers(arg, 0));
        return;
      }
      if (!isNumeric(cur)) {
        // arithmetic_node.cpp ArithmeticNode::updateExistingElement.
        throw new CommandError(14, 'TypeMismatch', `Cannot apply ${e.op} to a value of non-numeric type. ${idText(state.root)} has the field '${key}' of non-numeric type ${typeName(cur)}`);
      }
      setChild(parent, key, e.op === '$inc' ? addNumbers(cur, arg) : multiplyNumbers(cur, arg));
      return;
    }
    case '$min':
    case '$max': {
      const c = cur === undefined ? 0 : compareValues(arg, cur);
      if (cur === undefined || (e.op === '$min' ? c < 0 : c > 0)) setChild(parent, key, deepClone(arg));
      return;
    }
    case '$currentDate': {
      const asTimestamp = isDocument(arg) && arg.$type === 'timestamp';
      const value = asTimestamp
        ? new Timestamp({ t: Math.floor(state.now.getTime() / 1000), i: ++state.tsCounter })
        : new Date(state.now.getTime());
      setChild(parent, key, value);
      return;
    }
    case '$push':
      setChild(parent, key, pushValues(state, key, cur, arg));
      return;
    case '$addToSet': {
      if (cur !== undefined && !Array.isArray(cur)) {
        // addtoset_node.cpp.
        throw badValue(`Cannot apply $addToSet to non-array field. Field named '${key}' has non-array type ${typeName(cur)}`);
      }
      const arr = cur === undefined ? [] : cur;
      const values = isDocument(arg) && Object.prototype.hasOwnProperty.call(arg, '$each') ? (arg.$each as unknown[]) : [arg];
      for (const v of values) if (!arr.some((x) => valuesEqual(x, v))) arr.push(deepClone(v));
      if (cur === undefined) setChild(parent, key, arr);
      return;
    }
    case '$pull':
    case '$pullAll': {
      if (cur === undefined) return;
      if (!Array.isArray(cur)) throw badValue(`Cannot apply ${e.op} to a non-array value`);
      const remove = e.op === '$pullAll' ? (x: unknown) => (arg as unknown[]).some((v) => valuesEqual(x, v)) : pullMatcher(arg);
      setChild(parent, key, cur.filter((x) => !remove(x)));
      return;
    }
    case '$pop': {
      if (cur === undefined) return;
      if (!Array.isArray(cur)) {
        throw new CommandError(14, 'TypeMismatch', `Path '${parts.join('.')}' contains an element of non-array type '${typeName(cur)}'`);
      }
      if (cur.length > 0) {
        if (toDouble(arg) === 1) cur.pop();
        else cur.shift();
      }
      return;
    }
    case '$rename': {
      if (cur === undefined) return;
      removeChild(parent, key);
      const target = locate(state.root, splitPath(arg as string), true);
      if (target) setChild(target.parent, target.key, cur);
      return;
    }
    case '$bit': {
      if (cur !== undefined && (!isNumeric(cur) || typeName(cur) === 'double' || typeName(cur) === 'decimal')) {
        throw badValue(`Cannot apply $bit to a value of non-integral type.${idText(state.root)} has the field ${key} of non-integer type ${typeName(cur)}`);
      }
      let value = cur === undefined ? 0n : toBigInt(cur);
      const spec = arg as Document;
      let isLong = cur !== undefined && typeName(cur) === 'long';
      for (const k of Object.keys(spec)) {
        const operand = toBigInt(spec[k]);
        if (typeName(spec[k]) === 'long') isLong = true;
        value = k === 'and' ? value & operand : k === 'or' ? value | operand : value ^ operand;
      }
      setChild(parent, key, isLong ? Long.fromBigInt(BigInt.asIntN(64, value)) : Number(BigInt.asIntN(32, value)));
      return;
    }
  }
}

function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (v instanceof Long || (v as { _bsontype?: string })?._bsontype === 'Long') return (v as Long).toBigInt();
  return BigInt(Math.trunc(toDouble(v)));
}

/** push_node.cpp: $each, $position, $sort, $slice. */
function pushValues(state: UpdateState, key: string, cur: unknown, arg: unknown): unknown[] {
  if (cur !== undefined && !Array.isArray(cur)) {
    throw badValue(`The field '${key}' must be an array but is of type ${typeName(cur)} in document ${idText(state.root)}`);
  }
  const arr = cur === undefined ? [] : [...cur];
  if (!(isDocument(arg) && Object.prototype.hasOwnProperty.call(arg, '$each'))) {
    arr.push(deepClone(arg));
    return arr;
  }
  const each = (arg.$each as unknown[]).map((v) => deepClone(v));
  let position = arr.length;
  if (arg.$position !== undefined) {
    if (!isNumeric(arg.$position) || !Number.isInteger(toDouble(arg.$position))) {
      throw badValue(`The value for $position must be an integer value, not of type: ${typeName(arg.$position)}`);
    }
    const p = toDouble(arg.$position);
    position = p < 0 ? Math.max(0, arr.length + p) : Math.min(p, arr.length);
  }
  arr.splice(position, 0, ...each);
  if (arg.$sort !== undefined) {
    const spec = arg.$sort;
    if (isDocument(spec)) {
      const keys = Object.keys(spec).map((k) => ({ parts: splitPath(k), dir: toDouble(spec[k]) < 0 ? -1 : 1 }));
      arr.sort((a, b) => {
        for (const k of keys) {
          const c = compareValues(getNested(a, k.parts) ?? null, getNested(b, k.parts) ?? null);
          if (c !== 0) return c * k.dir;
        }
        return 0;
      });
    } else {
      const dir = toDouble(spec);
      if (dir !== 1 && dir !== -1) throw badValue("The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields");
      arr.sort((a, b) => compareValues(a, b) * dir);
    }
  }
  if (arg.$slice !== undefined) {
    if (!isNumeric(arg.$slice) || !Number.isInteger(toDouble(arg.$slice))) {
      throw badValue(`The value for $slice must be an integer value but was given type: ${typeName(arg.$slice)}`);
    }
    const n = toDouble(arg.$slice);
    return n >= 0 ? arr.slice(0, n) : arr.slice(Math.max(0, arr.length + n));
  }
  return arr;
}

/** pull_node.cpp: a condition on values, a query on document elements, or an equality. */
function pullMatcher(arg: unknown): (x: unknown) => boolean {
  if (isRegexValue(arg)) return regexTest(makeRegex(arg));
  if (isExpressionDocument(arg) && !PATHLESS.has(Object.keys(arg)[0])) {
    const nodes = compileOperators('', arg);
    return (x) => evalNodesOnValue(nodes, x);
  }
  if (isDocument(arg)) {
    const pred = compileDocFilter(arg);
    return (x) => isDocument(x) && pred(x);
  }
  return (x) => valuesEqual(x, arg);
}

type NumKind = 0 | 1 | 2 | 3; // int, long, double, decimal

function numKind(v: unknown): NumKind {
  const t = typeName(v);
  return t === 'int' ? 0 : t === 'long' ? 1 : t === 'decimal' ? 3 : 2;
}

function fromBigIntResult(r: bigint, kind: NumKind): unknown {
  if (kind === 0 && r >= -2147483648n && r <= 2147483647n) return Number(r);
  if (r >= -(2n ** 63n) && r < 2n ** 63n) return Long.fromBigInt(r);
  return Number(r); // overflow of 64 bits: a double, as SafeNum does
}

const isInt32 = (n: number): boolean => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 && !Object.is(n, -0);

/** SafeNum addition: int+int widens to long on overflow; any double gives a double; decimal wins. */
export function addNumbers(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    // Two ints whose sum leaves the int32 range become a long, as SafeNum does.
    if (isInt32(a) && isInt32(b) && !isInt32(r)) return Long.fromNumber(r);
    return r;
  }
  const kind = Math.max(numKind(a), numKind(b)) as NumKind;
  if (kind === 3) return Decimal128.fromString(String(toDouble(a) + toDouble(b)));
  if (kind === 2) return toDouble(a) + toDouble(b);
  return fromBigIntResult(toBigInt(a) + toBigInt(b), kind);
}

export function multiplyNumbers(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number' && (!isInt32(a) || !isInt32(b))) return a * b;
  const kind = Math.max(numKind(a), numKind(b)) as NumKind;
  if (kind === 3) return Decimal128.fromString(String(toDouble(a) * toDouble(b)));
  if (kind === 2) return toDouble(a) * toDouble(b);
  return fromBigIntResult(toBigInt(a) * toBigInt(b), kind);
}

function applyPipelineUpdate(original: Document, stages: Document[], options: UpdateOptions): Document {
  const isInsert = options.isUpsert === true;
  const now = options.now ?? new Date();
  // The pipeline is parsed first, then each stage checked (pipeline_executor.cpp).
  const run = compilePipeline(stages, { now });
  for (const s of stages) {
    const name = Object.keys(s)[0];
    if (!UPDATE_PIPELINE_STAGES.has(name)) {
      throw new CommandError(72, 'InvalidOptions', `${name} is not allowed to be used within an update`);
    }
  }
  const base = isInsert ? { ...upsertSeed(options.query ?? {}), ...original } : original;
  let result: Document | undefined;
  for (const d of run([base])) {
    result = d;
    break;
  }
  const out = deepClone(result ?? {});
  if (isInsert) return finishInsert(out);
  return keepImmutableId(original, out);
}
