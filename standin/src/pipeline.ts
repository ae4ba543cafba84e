/**
 * Aggregation pipelines over an iterable of documents, and aggregation expressions, for the stand-in
 * mongod. Stages are parsed once when the pipeline is compiled (so parse errors are thrown by
 * `runPipeline` itself); $match, $project, $addFields/$set, $unset, $replaceRoot/$replaceWith,
 * $skip and $limit are fused into one streaming loop, $unwind streams, and $sort, $group and $count
 * buffer. Input documents are never modified: stages that change a document build a new one,
 * sharing the unchanged sub-values with the input, so outputs are read-only views.
 *
 * The behaviour and messages follow src/mongo/db/pipeline (document_source_*.cpp, expression.cpp,
 * accumulator_*.cpp) and src/mongo/db/query/projection; each error cites its origin.
 */
import { Long, Timestamp } from 'bson';
import { CommandError } from './errors.ts';
import {
  compareValues,
  formatElement,
  formatValue,
  getField,
  getNested,
  isDocument,
  isNumeric,
  isTruthy,
  splitPath,
  toDouble,
  typeName,
  valuesEqual,
  type Document,
} from './bsonutil.ts';
import { addNumbers, compileFilter, multiplyNumbers } from './query.ts';

export type { Document };

/** A stage the stand-in does not implement itself ($lookup, $currentOp, ...) can be supplied by the caller. */
export type StageHandler = (spec: unknown, input: Iterable<Document>, ctx: PipelineContext) => Iterable<Document>;

export interface PipelineContext {
  /** $$NOW and $$CLUSTER_TIME. */
  now: Date;
  /** Implementations of further stages, by name ('$lookup', '$currentOp', ...). */
  stageHandlers?: Record<string, StageHandler>;
}

/** The evaluation environment of an expression: $$NOW and the variables bound by $let/$map/$filter. */
interface Env {
  now: Date;
  vars: Record<string, unknown> | null;
}

/** A compiled expression: evaluated against the current document ($$ROOT and $$CURRENT). `undefined` is missing. */
type Fn = (doc: Document, env: Env) => unknown;

const err = (code: number, msg: string, codeName = `Location${code}`): CommandError => new CommandError(code, codeName, msg);

/** DBException::addContext: "<context> :: caused by :: <reason>", keeping code and name. */
function withContext<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CommandError) throw new CommandError(e.code, e.codeName, `${context} :: caused by :: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

/** Compile an aggregation expression once; the result evaluates it against a document. */
export function compileExpression(expr: unknown): (doc: Document, ctx?: { now?: Date }) => unknown {
  const fn = compileExpr(expr);
  return (doc, ctx) => fn(doc, { now: ctx?.now ?? new Date(), vars: null });
}

/** Evaluate an aggregation expression against a document. `undefined` stands for a missing value. */
export function evaluateExpression(expr: unknown, doc: Document, ctx: { now: Date }): unknown {
  return compileExpr(expr)(doc, { now: ctx.now, vars: null });
}

/** FieldPath validation (src/mongo/db/pipeline/field_path.cpp). */
function validateFieldPath(path: string): string[] {
  if (path.length === 0) throw err(40352, 'FieldPath cannot be constructed with empty string');
  if (path.endsWith('.')) throw err(40353, "FieldPath must not end with a '.'.");
  const parts = path.split('.');
  for (const p of parts) {
    if (p.length === 0) throw err(15998, 'FieldPath field names may not be empty strings.');
    if (p[0] === '$') throw err(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
  }
  return parts;
}

/** ExpressionFieldPath::evaluatePath: documents are descended, arrays mapped (missing results dropped). */
function evalPath(cur: unknown, parts: string[], i: number): unknown {
  for (; i < parts.length; i++) {
    if (isDocument(cur)) {
      cur = getField(cur, parts[i]);
    } else if (Array.isArray(cur)) {
      const out: unknown[] = [];
      for (const el of cur) {
        if (isDocument(el) || Array.isArray(el)) {
          const v = evalPath(el, parts, i);
          if (v !== undefined) out.push(v);
        }
      }
      return out;
    } else {
      return undefined;
    }
  }
  return cur;
}

function compileFieldPath(path: string): Fn {
  const parts = validateFieldPath(path);
  if (parts.length === 1) {
    const k = parts[0];
    return (doc) => getField(doc, k);
  }
  return (doc) => evalPath(doc, parts, 0);
}

function compileVariable(ref: string): Fn {
  const dot = ref.indexOf('.');
  const name = dot < 0 ? ref : ref.slice(0, dot);
  const rest = dot < 0 ? null : validateFieldPath(ref.slice(dot + 1));
  if (name.length === 0) throw err(16869, 'empty variable names are not allowed');
  const at = (v: unknown): unknown => (rest ? evalPath(v, rest, 0) : v);
  switch (name) {
    case 'ROOT':
    case 'CURRENT':
      return (doc) => at(doc);
    case 'NOW':
      return (_doc, env) => at(env.now);
    case 'CLUSTER_TIME':
      return (_doc, env) => at(new Timestamp({ t: Math.floor(env.now.getTime() / 1000), i: 1 }));
    case 'REMOVE':
      return () => undefined;
    default:
      return (_doc, env) => {
        if (!env.vars || !Object.prototype.hasOwnProperty.call(env.vars, name)) {
          throw err(17276, `Use of undefined variable: ${name}`);
        }
        return at(env.vars[name]);
      };
  }
}

function compileExpr(expr: unknown): Fn {
  if (typeof expr === 'string') {
    if (expr.startsWith('$$')) return compileVariable(expr.slice(2));
    if (expr.startsWith('$')) {
      if (expr.length === 1) throw err(16872, "'$' by itself is not a valid FieldPath");
      return compileFieldPath(expr.slice(1));
    }
    return () => expr;
  }
  if (Array.isArray(expr)) {
    const items = expr.map(compileExpr);
    return (doc, env) => items.map((f) => nullIfMissing(f(doc, env)));
  }
  if (isDocument(expr)) {
    const keys = Object.keys(expr);
    if (keys.length > 0 && keys[0][0] === '$') {
      if (keys.length !== 1) {
        // expression.cpp Expression::parseExpression.
        throw err(15983, `an expression specification must contain exactly one field, the name of the expression. Found ${keys.length} fields in ${formatValue(expr)}`);
      }
      return compileOperator(keys[0], expr[keys[0]]);
    }
    // ExpressionObject: missing values are left out.
    const fields = keys.map((k) => {
      if (k.includes('.')) throw err(16412, "FieldPath field names may not contain '.'. Consider using $getField or $setField.");
      if (k[0] === '$') throw err(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
      return [k, compileExpr(expr[k])] as const;
    });
    return (doc, env) => {
      const out: Document = {};
      for (const [k, f] of fields) {
        const v = f(doc, env);
        if (v !== undefined) out[k] = v;
      }
      return out;
    };
  }
  return () => expr;
}

const nullIfMissing = (v: unknown): unknown => (v === undefined ? null : v);
const isNullish = (v: unknown): boolean => v === null || v === undefined;

/** An operator's operand list: a non-array operand is a single argument (ExpressionNary::parseArguments). */
function operandList(arg: unknown): unknown[] {
  return Array.isArray(arg) ? arg : [arg];
}

/** ExpressionFixedArity: "Expression $x takes exactly N arguments. M were passed in." */
function fixedArgs(name: string, arg: unknown, n: number): Fn[] {
  const list = operandList(arg);
  if (list.length !== n) {
    throw err(16020, `Expression ${name} takes exactly ${n} arguments. ${list.length} were passed in.`);
  }
  return list.map(compileExpr);
}

function objectArgs(name: string, arg: unknown, allowed: string[], code: number): Document {
  if (!isDocument(arg)) throw err(code, `${name} only supports an object as its argument`);
  for (const k of Object.keys(arg)) {
    if (!allowed.includes(k)) throw err(code, `Unrecognized parameter to ${name}: ${k}`);
  }
  return arg;
}

function isDateValue(v: unknown): v is Date {
  return v instanceof Date;
}

/** The numbers of $max/$min/$sum/$avg: a single operand that is an array stands for its elements. */
function accumulatorOperands(fns: Fn[], doc: Document, env: Env): unknown[] {
  if (fns.length === 1) {
    const v = fns[0](doc, env);
    return Array.isArray(v) ? v : [v];
  }
  return fns.map((f) => f(doc, env));
}

function sumOf(values: unknown[]): unknown {
  let total: unknown = 0;
  for (const v of values) if (isNumeric(v)) total = addNumbers(total, v);
  return total;
}

function averageOf(values: unknown[]): unknown {
  let total = 0;
  let n = 0;
  for (const v of values) {
    if (isNumeric(v)) {
      total += toDouble(v);
      n++;
    }
  }
  return n === 0 ? null : total / n;
}

/** Value::coerceToString, as $toLower/$toUpper/$concat-like conversions use it. */
function coerceToString(v: unknown): string {
  if (isNullish(v)) return '';
  if (typeof v === 'string') return v;
  if (isNumeric(v)) return numberToString(v);
  if (isDateValue(v)) return v.toISOString();
  if ((v as { _bsontype?: string })?._bsontype === 'Timestamp') return formatValue(v);
  // Value::coerceToString (src/mongo/db/exec/document_value/value.cpp), as used by $toLower/$toUpper.
  throw err(16007, `can't convert from BSON type ${typeName(v)} to String`);
}

function numberToString(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : String(v);
  return (v as { toString(): string }).toString();
}

function asciiCase(s: string, upper: boolean): string {
  // $toLower/$toUpper change ASCII letters only (the manual: "well-defined behavior for strings of ASCII characters").
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (upper && c >= 97 && c <= 122) out += String.fromCharCode(c - 32);
    else if (!upper && c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    else out += s[i];
  }
  return out;
}

/** $toString (ExpressionConvert to string). */
function convertToString(v: unknown): unknown {
  if (isNullish(v)) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (isNumeric(v)) return numberToString(v);
  if (isDateValue(v)) return v.toISOString();
  const tag = (v as { _bsontype?: string })._bsontype;
  if (tag === 'ObjectId') return (v as { toHexString(): string }).toHexString();
  if (tag === 'BSONSymbol') return String((v as { value: unknown }).value);
  if (tag === 'Binary' && (v as { sub_type: number }).sub_type === 4) {
    return (v as { toUUID(): { toString(): string } }).toUUID().toString();
  }
  throw new CommandError(241, 'ConversionFailure', `Unsupported conversion from ${typeName(v)} to string in $convert with no onError value`);
}

/** $dateToString format specifiers (src/mongo/db/query/datetime/date_time_support.cpp), UTC or a fixed offset. */
function formatDate(d: Date, format: string, offsetMinutes: number): string {
  const t = new Date(d.getTime() + offsetMinutes * 60000);
  const pad = (n: number, w: number): string => String(n).padStart(w, '0');
  const dayOfYear = (): number => Math.floor((Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()) - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86400000) + 1;
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    if (i + 1 >= format.length) throw err(18535, 'Unmatched \'%\' at end of format string');
    const f = format[++i];
    switch (f) {
      case 'Y': out += pad(t.getUTCFullYear(), 4); break;
      case 'm': out += pad(t.getUTCMonth() + 1, 2); break;
      case 'd': out += pad(t.getUTCDate(), 2); break;
      case 'H': out += pad(t.getUTCHours(), 2); break;
      case 'M': out += pad(t.getUTCMinutes(), 2); break;
      case 'S': out += pad(t.getUTCSeconds(), 2); break;
      case 'L': out += pad(t.getUTCMilliseconds(), 3); break;
      case 'j': out += pad(dayOfYear(), 3); break;
      case 'w': out += String(t.getUTCDay() + 1); break;
      case 'u': out += String(t.getUTCDay() === 0 ? 7 : t.getUTCDay()); break;
      case 'z': {
        const sign = offsetMinutes < 0 ? '-' : '+';
        const a = Math.abs(offsetMinutes);
        out += `${sign}${pad(Math.floor(a / 60), 2)}${pad(a % 60, 2)}`;
        break;
      }
      case 'Z': out += String(offsetMinutes); break;
      case '%': out += '%'; break;
      default:
        throw err(18536, `Invalid format character '%${f}' in format string`);
    }
  }
  return out;
}

function parseTimezone(tz: unknown): number {
  if (isNullish(tz)) return 0;
  if (typeof tz !== 'string') throw err(40517, `timezone must evaluate to a string, found ${typeName(tz)}`);
  if (tz === 'UTC' || tz === 'GMT' || tz === 'Z' || tz === 'Etc/UTC' || tz === 'Etc/GMT') return 0;
  const m = /^([+-])(\d{2})(?::?(\d{2}))?$/.exec(tz);
  if (!m) throw err(40485, `unrecognized time zone identifier: "${tz}"`);
  const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
  return m[1] === '-' ? -minutes : minutes;
}

function toDateForFormat(v: unknown): Date {
  if (isDateValue(v)) return v;
  const tag = (v as { _bsontype?: string })?._bsontype;
  if (tag === 'Timestamp') return new Date((v as Timestamp).t * 1000);
  if (tag === 'ObjectId') return (v as { getTimestamp(): Date }).getTimestamp();
  throw err(16006, `can't convert from BSON type ${typeName(v)} to Date`);
}

type OperatorCompiler = (arg: unknown, name: string) => Fn;

function comparison(test: (c: number) => boolean): OperatorCompiler {
  return (arg, name) => {
    const [a, b] = fixedArgs(name, arg, 2);
    return (doc, env) => test(compareValues(a(doc, env), b(doc, env)));
  };
}

/** Aggregation expression operators (src/mongo/db/pipeline/expression.cpp). */
const OPERATORS: Record<string, OperatorCompiler> = {
  $literal: (arg) => () => arg,

  $add: (arg) => {
    const fns = operandList(arg).map(compileExpr);
    return (doc, env) => {
      let total: unknown = 0;
      let date: Date | null = null;
      for (const f of fns) {
        const v = f(doc, env);
        if (isNullish(v)) return null;
        if (isDateValue(v)) {
          if (date) throw err(16612, 'only one date allowed in an $add expression');
          date = v;
        } else if (isNumeric(v)) {
          total = addNumbers(total, v);
        } else {
          throw err(16554, `$add only supports numeric or date types, not ${typeName(v)}`);
        }
      }
      return date ? new Date(date.getTime() + Math.round(toDouble(total))) : total;
    };
  },

  $subtract: (arg, name) => {
    const [a, b] = fixedArgs(name, arg, 2);
    return (doc, env) => {
      const l = a(doc, env);
      const r = b(doc, env);
      if (isNullish(l) || isNullish(r)) return null;
      if (isNumeric(l) && isNumeric(r)) return addNumbers(l, multiplyNumbers(r, -1));
      if (isDateValue(l)) {
        if (isDateValue(r)) return Long.fromNumber(l.getTime() - r.getTime());
        if (isNumeric(r)) return new Date(l.getTime() - Math.round(toDouble(r)));
      }
      throw err(16556, `can't $subtract ${typeName(r)} from ${typeName(l)}`);
    };
  },

  $multiply: (arg) => {
    const fns = operandList(arg).map(compileExpr);
    return (doc, env) => {
      let product: unknown = 1;
      for (const f of fns) {
        const v = f(doc, env);
        if (isNullish(v)) return null;
        if (!isNumeric(v)) throw err(16555, `$multiply only supports numeric types, not ${typeName(v)}`);
        product = multiplyNumbers(product, v);
      }
      return product;
    };
  },

  $divide: (arg, name) => {
    const [a, b] = fixedArgs(name, arg, 2);
    return (doc, env) => {
      const l = a(doc, env);
      const r = b(doc, env);
      if (isNullish(l) || isNullish(r)) return null;
      if (!isNumeric(l) || !isNumeric(r)) {
        throw err(16609, `$divide only supports numeric types, not ${typeName(l)} and ${typeName(r)}`);
      }
      if (toDouble(r) === 0) throw err(16608, "can't $divide by zero");
      return toDouble(l) / toDouble(r);
    };
  },

  $eq: comparison((c) => c === 0),
  $ne: comparison((c) => c !== 0),
  $gt: comparison((c) => c > 0),
  $gte: comparison((c) => c >= 0),
  $lt: comparison((c) => c < 0),
  $lte: comparison((c) => c <= 0),
  $cmp: (arg, name) => {
    const [a, b] = fixedArgs(name, arg, 2);
    return (doc, env) => Math.sign(compareValues(a(doc, env), b(doc, env)));
  },

  $and: (arg) => {
    const fns = operandList(arg).map(compileExpr);
    return (doc, env) => fns.every((f) => isTruthy(f(doc, env)));
  },
  $or: (arg) => {
    const fns = operandList(arg).map(compileExpr);
    return (doc, env) => fns.some((f) => isTruthy(f(doc, env)));
  },
  $not: (arg, name) => {
    const [a] = fixedArgs(name, arg, 1);
    return (doc, env) => !isTruthy(a(doc, env));
  },

  $cond: (arg, name) => {
    let parts: Fn[];
    if (isDocument(arg)) {
      // ExpressionCond::parse.
      for (const k of Object.keys(arg)) {
        if (k !== 'if' && k !== 'then' && k !== 'else') throw err(17083, `Unrecognized parameter to $cond: ${k}`);
      }
      if (!('if' in arg)) throw err(17080, "Missing 'if' parameter to $cond");
      if (!('then' in arg)) throw err(17081, "Missing 'then' parameter to $cond");
      if (!('else' in arg)) throw err(17082, "Missing 'else' parameter to $cond");
      parts = [compileExpr(arg.if), compileExpr(arg.then), compileExpr(arg.else)];
    } else {
      parts = fixedArgs(name, arg, 3);
    }
    const [c, t, e] = parts;
    return (doc, env) => (isTruthy(c(doc, env)) ? t(doc, env) : e(doc, env));
  },

  $ifNull: (arg) => {
    const fns = operandList(arg).map(compileExpr);
    if (fns.length < 2) throw err(1257300, `$ifNull needs at least two arguments, had: ${fns.length}`);
    return (doc, env) => {
      for (let i = 0; i < fns.length - 1; i++) {
        const v = fns[i](doc, env);
        if (!isNullish(v)) return v;
      }
      return fns[fns.length - 1](doc, env);
    };
  },

  $in: (arg, name) => {
    const [a, b] = fixedArgs(name, arg, 2);
    return (doc, env) => {
      const v = a(doc, env);
      const arr = b(doc, env);
      if (!Array.isArray(arr)) throw err(40081, `$in requires an array as a second argument, found: ${typeName(arr)}`);
      const needle = nullIfMissing(v);
      return arr.some((x) => valuesEqual(x, needle));
    };
  },

  $size: (arg, name) => {
    const [a] = fixedArgs(name, arg, 1);
    return (doc, env) => {
      const v = a(doc, env);
      if (!Array.isArray(v)) throw err(17124, `The argument to $size must be an array. Type of the argument was: ${typeName(v)}`);
      return v.length;
    };
  },

  $concat: (arg) => {
    const fns = operandList(arg).map(compileExpr);
    return (doc, env) => {
      let out = '';
      for (const f of fns) {
        const v = f(doc, env);
        if (isNullish(v)) return null;
        if (typeof v !== 'string') throw err(16702, `$concat only supports strings, not ${typeName(v)}`);
        out += v;
      }
      return out;
    };
  },

  $toString: (arg, name) => {
    const [a] = fixedArgs(name, arg, 1);
    return (doc, env) => convertToString(a(doc, env));
  },

  $type: (arg, name) => {
    const [a] = fixedArgs(name, arg, 1);
    return (doc, env) => typeName(a(doc, env));
  },

  $arrayElemAt: (arg, name) => {
    const [a, b] = fixedArgs(name, arg, 2);
    return (doc, env) => {
      const arr = a(doc, env);
      const idx = b(doc, env);
      if (isNullish(arr) || isNullish(idx)) return null;
      if (!Array.isArray(arr)) throw err(28689, `$arrayElemAt's first argument must be an array, but is ${typeName(arr)}`);
      if (!isNumeric(idx)) throw err(28690, `$arrayElemAt's second argument must be a numeric value, but is ${typeName(idx)}`);
      const i = toDouble(idx);
      if (!Number.isInteger(i) || i < -2147483648 || i > 2147483647) {
        throw err(28691, `$arrayElemAt's second argument must be representable as a 32-bit integer: ${formatValue(idx)}`);
      }
      const k = i < 0 ? arr.length + i : i;
      return k >= 0 && k < arr.length ? arr[k] : undefined;
    };
  },

  $first: (arg, name) => firstOrLast(arg, name, true),
  $last: (arg, name) => firstOrLast(arg, name, false),

  $max: (arg) => minOrMax(arg, 1),
  $min: (arg) => minOrMax(arg, -1),

  $sum: (arg) => {
    const fns = operandList(arg).map(compileExpr);
    return (doc, env) => sumOf(accumulatorOperands(fns, doc, env));
  },
  $avg: (arg) => {
    const fns = operandList(arg).map(compileExpr);
    return (doc, env) => averageOf(accumulatorOperands(fns, doc, env));
  },

  $toLower: (arg, name) => {
    const [a] = fixedArgs(name, arg, 1);
    return (doc, env) => asciiCase(coerceToString(a(doc, env)), false);
  },
  $toUpper: (arg, name) => {
    const [a] = fixedArgs(name, arg, 1);
    return (doc, env) => asciiCase(coerceToString(a(doc, env)), true);
  },

  $dateToString: (arg) => {
    // ExpressionDateToString::parse.
    if (!isDocument(arg)) throw err(18629, '$dateToString only supports an object as its argument');
    for (const k of Object.keys(arg)) {
      if (!['date', 'format', 'timezone', 'onNull'].includes(k)) throw err(18534, `Unrecognized argument to $dateToString: ${k}`);
    }
    if (!('date' in arg)) throw err(18628, "Missing 'date' parameter to $dateToString");
    const date = compileExpr(arg.date);
    const format = 'format' in arg ? compileExpr(arg.format) : null;
    const tz = 'timezone' in arg ? compileExpr(arg.timezone) : null;
    const onNull = 'onNull' in arg ? compileExpr(arg.onNull) : null;
    return (doc, env) => {
      const d = date(doc, env);
      if (isNullish(d)) return onNull ? onNull(doc, env) : null;
      const f = format ? format(doc, env) : '%Y-%m-%dT%H:%M:%S.%LZ';
      if (isNullish(f)) return null;
      if (typeof f !== 'string') throw err(18533, `$dateToString requires that 'format' be a string, found: ${typeName(f)} with value ${formatValue(f)}`);
      return formatDate(toDateForFormat(d), f, parseTimezone(tz ? tz(doc, env) : null));
    };
  },

  $let: (arg) => {
    const spec = objectArgs('$let', arg, ['vars', 'in'], 16875);
    if (!isDocument(spec.vars)) throw err(16876, "invalid parameter: expected an object (vars)");
    if (!('in' in spec)) throw err(16877, "Missing 'in' parameter to $let");
    const vars = Object.keys(spec.vars).map((k) => [k, compileExpr((spec.vars as Document)[k])] as const);
    const body = compileExpr(spec.in);
    return (doc, env) => {
      const bound: Record<string, unknown> = { ...(env.vars ?? {}) };
      for (const [k, f] of vars) bound[k] = f(doc, env);
      return body(doc, { now: env.now, vars: bound });
    };
  },

  $map: (arg) => {
    const spec = objectArgs('$map', arg, ['input', 'as', 'in'], 16879);
    if (!('input' in spec)) throw err(16880, "Missing 'input' parameter to $map");
    if (!('in' in spec)) throw err(16882, "Missing 'in' parameter to $map");
    const as = typeof spec.as === 'string' ? spec.as : 'this';
    const input = compileExpr(spec.input);
    const body = compileExpr(spec.in);
    return (doc, env) => {
      const arr = input(doc, env);
      if (isNullish(arr)) return null;
      if (!Array.isArray(arr)) throw err(16883, `input to $map must be an array not ${typeName(arr)}`);
      return arr.map((el) => nullIfMissing(body(doc, { now: env.now, vars: { ...(env.vars ?? {}), [as]: el } })));
    };
  },

  $filter: (arg) => {
    const spec = objectArgs('$filter', arg, ['input', 'as', 'cond', 'limit'], 28647);
    if (!('input' in spec)) throw err(28648, "Missing 'input' parameter to $filter");
    if (!('cond' in spec)) throw err(28650, "Missing 'cond' parameter to $filter");
    const as = typeof spec.as === 'string' ? spec.as : 'this';
    const input = compileExpr(spec.input);
    const cond = compileExpr(spec.cond);
    const limit = 'limit' in spec ? compileExpr(spec.limit) : null;
    return (doc, env) => {
      const arr = input(doc, env);
      if (isNullish(arr)) return null;
      if (!Array.isArray(arr)) throw err(28651, `input to $filter must be an array not ${typeName(arr)}`);
      const max = limit ? toDouble(limit(doc, env)) : Infinity;
      const out: unknown[] = [];
      for (const el of arr) {
        if (out.length >= max) break;
        if (isTruthy(cond(doc, { now: env.now, vars: { ...(env.vars ?? {}), [as]: el } }))) out.push(el);
      }
      return out;
    };
  },
};

function firstOrLast(arg: unknown, name: string, first: boolean): Fn {
  const [a] = fixedArgs(name, arg, 1);
  return (doc, env) => {
    const v = a(doc, env);
    if (isNullish(v)) return null;
    // ExpressionFirst/ExpressionLast (expression.cpp).
    if (!Array.isArray(v)) throw err(28689, `${name}'s argument must be an array, but is ${typeName(v)}`);
    return v.length === 0 ? undefined : first ? v[0] : v[v.length - 1];
  };
}

function minOrMax(arg: unknown, sign: 1 | -1): Fn {
  const fns = operandList(arg).map(compileExpr);
  return (doc, env) => {
    let best: unknown;
    for (const v of accumulatorOperands(fns, doc, env)) {
      if (isNullish(v)) continue;
      if (best === undefined || compareValues(v, best) * sign > 0) best = v;
    }
    return best === undefined ? null : best;
  };
}

function compileOperator(name: string, arg: unknown): Fn {
  const compiler = Object.prototype.hasOwnProperty.call(OPERATORS, name) ? OPERATORS[name] : undefined;
  // Expression::parseExpression: ErrorCodes::InvalidPipelineOperator.
  if (!compiler) throw new CommandError(168, 'InvalidPipelineOperator', `Unrecognized expression '${name}'`);
  return compiler(arg, name);
}

// ---------------------------------------------------------------------------------------------
// Projections ($project, $unset, $addFields/$set)
// ---------------------------------------------------------------------------------------------

type ProjLeaf = { kind: 'include' } | { kind: 'exclude' } | { kind: 'expr'; fn: Fn };
interface ProjNode {
  kind: 'node';
  children: Map<string, ProjNode | ProjLeaf>;
  hasExpr: boolean;
}

const newNode = (): ProjNode => ({ kind: 'node', children: new Map(), hasExpr: false });

/** projection_ast addNodeAtPath, with its path-collision errors. */
function addAtPath(root: ProjNode, parts: string[], leafValue: ProjLeaf): void {
  let node = root;
  const full = parts.join('.');
  for (let i = 0; i < parts.length - 1; i++) {
    const child = node.children.get(parts[i]);
    if (child === undefined) {
      const n = newNode();
      node.children.set(parts[i], n);
      node = n;
    } else if (child.kind === 'node') {
      node = child;
    } else {
      throw err(31249, `Path collision at ${full} remaining portion ${parts.slice(i + 1).join('.')}`);
    }
  }
  const last = parts[parts.length - 1];
  if (node.children.has(last)) throw err(31250, `Path collision at ${full}`);
  node.children.set(last, leafValue);
}

function markExpressions(node: ProjNode): boolean {
  let any = false;
  for (const child of node.children.values()) {
    if (child.kind === 'expr') any = true;
    else if (child.kind === 'node' && markExpressions(child)) any = true;
  }
  node.hasExpr = any;
  return any;
}

interface Projection {
  mode: 'inclusion' | 'exclusion';
  root: ProjNode;
}

/** projection_ast::parse with the aggregation policies (src/mongo/db/query/projection/projection_parser.cpp). */
function parseProjection(spec: Document): Projection {
  if (Object.keys(spec).length === 0) throw err(51272, 'projection specification must have at least one field');
  const root = newNode();
  let mode: 'inclusion' | 'exclusion' | undefined;
  let idSpecified = false;
  const walk = (obj: Document, prefix: string[]): void => {
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      const parts = [...prefix, ...validateFieldPath(k)];
      const full = parts.join('.');
      if (parts[0] === '_id') idSpecified = true;
      if (typeof v === 'boolean' || isNumeric(v)) {
        if (typeof v === 'boolean' ? v : toDouble(v) !== 0) {
          if (mode === 'exclusion') throw err(31253, `Cannot do inclusion on field ${full} in exclusion projection`);
          mode = 'inclusion';
          addAtPath(root, parts, { kind: 'include' });
        } else {
          addAtPath(root, parts, { kind: 'exclude' });
          if (full !== '_id') {
            if (mode === 'inclusion') throw err(31254, `Cannot do exclusion on field ${full} in inclusion projection`);
            mode = 'exclusion';
          }
        }
      } else if (isDocument(v) && (Object.keys(v)[0] ?? '')[0] !== '$') {
        if (Object.keys(v).length === 0) {
          throw err(51270, `An empty sub-projection is not a valid value. Found empty object at path ${full}`);
        }
        walk(v, parts);
      } else {
        // An expression: operator documents and other literals (strings, arrays, null, dates...).
        if (mode === 'exclusion') throw err(31252, 'Cannot use expression other than $meta in exclusion projection');
        mode = 'inclusion';
        addAtPath(root, parts, { kind: 'expr', fn: compileExpr(v) });
      }
    }
  };
  walk(spec, []);
  // Only _id: 0 (or nothing else) gives an exclusion projection.
  const finalMode = mode ?? 'exclusion';
  if (finalMode === 'inclusion' && !idSpecified) {
    const existing = root.children;
    root.children = new Map([['_id', { kind: 'include' } as ProjLeaf], ...existing]);
  }
  markExpressions(root);
  return { mode: finalMode, root };
}

function includeArray(node: ProjNode, arr: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const el of arr) {
    // Inclusion below an array keeps document elements (projected) and nested arrays; scalars go.
    if (isDocument(el)) out.push(includeDoc(node, el));
    else if (Array.isArray(el)) out.push(includeArray(node, el));
  }
  return out;
}

function includeDoc(node: ProjNode, doc: Document): Document {
  const out: Document = {};
  for (const k of Object.keys(doc)) {
    const child = node.children.get(k);
    if (child === undefined) continue;
    const v = doc[k];
    if (child.kind === 'include') {
      if (v !== undefined) out[k] = v;
    } else if (child.kind === 'node') {
      if (isDocument(v)) out[k] = includeDoc(child, v);
      else if (Array.isArray(v)) out[k] = includeArray(child, v);
    }
  }
  return out;
}

function excludeDoc(node: ProjNode, doc: Document): Document {
  const out: Document = {};
  for (const k of Object.keys(doc)) {
    const child = node.children.get(k);
    const v = doc[k];
    if (child === undefined) {
      out[k] = v;
    } else if (child.kind === 'node') {
      out[k] = excludeValue(child, v);
    }
  }
  return out;
}

function excludeValue(node: ProjNode, v: unknown): unknown {
  if (isDocument(v)) return excludeDoc(node, v);
  if (Array.isArray(v)) return v.map((el) => excludeValue(node, el));
  return v;
}

/**
 * ProjectionNode::applyExpressions: computed fields are set in spec order (an existing field keeps
 * its place); a sub-tree with computed fields descends into documents, maps arrays and replaces
 * anything else by a new document. `copy` copies the documents it changes (for $addFields).
 */
function applyExpressions(node: ProjNode, out: Document, root: Document, env: Env, copy: boolean): void {
  for (const [k, child] of node.children) {
    if (child.kind === 'expr') {
      const v = child.fn(root, env);
      if (v === undefined) delete out[k];
      else out[k] = v;
    } else if (child.kind === 'node' && child.hasExpr) {
      out[k] = expressionsOnValue(child, out[k], root, env, copy);
    }
  }
}

function expressionsOnValue(node: ProjNode, v: unknown, root: Document, env: Env, copy: boolean): unknown {
  if (isDocument(v)) {
    const target = copy ? { ...v } : v;
    applyExpressions(node, target, root, env, copy);
    return target;
  }
  if (Array.isArray(v)) return v.map((el) => expressionsOnValue(node, el, root, env, copy));
  const target: Document = {};
  applyExpressions(node, target, root, env, copy);
  return target;
}

function compileProjectStage(spec: unknown, name: string): (doc: Document, env: Env) => Document {
  return withContext(`Invalid ${name}`, () => {
    if (!isDocument(spec)) throw err(15969, `${name} specification must be an object`);
    const { mode, root } = parseProjection(spec);
    if (mode === 'exclusion') return (doc: Document) => excludeDoc(root, doc);
    const simple = [...root.children.values()].every((c) => c.kind === 'include');
    if (simple) {
      const keys = new Set(root.children.keys());
      return (doc: Document) => {
        const out: Document = {};
        for (const k in doc) if (keys.has(k) && doc[k] !== undefined && Object.prototype.hasOwnProperty.call(doc, k)) out[k] = doc[k];
        return out;
      };
    }
    return (doc: Document, env: Env) => {
      const out = includeDoc(root, doc);
      if (root.hasExpr) applyExpressions(root, out, doc, env, false);
      return out;
    };
  });
}

function compileUnsetStage(spec: unknown): (doc: Document) => Document {
  // document_source_project.cpp createFromBson for the $unset alias.
  if (typeof spec !== 'string' && !Array.isArray(spec)) throw err(31002, '$unset specification must be a string or an array');
  const fields = typeof spec === 'string' ? [spec] : spec;
  if (fields.length === 0) throw err(31119, '$unset specification must be a string or an array with at least one field');
  for (const f of fields) {
    if (typeof f !== 'string') throw err(31120, '$unset specification must be a string or an array containing only string values');
  }
  return withContext('Invalid $unset', () => {
    const root = newNode();
    for (const f of fields as string[]) addAtPath(root, validateFieldPath(f), { kind: 'exclude' });
    return (doc: Document) => excludeDoc(root, doc);
  });
}

function compileAddFieldsStage(spec: unknown, name: string): (doc: Document, env: Env) => Document {
  return withContext(`Invalid ${name}`, () => {
    if (!isDocument(spec)) throw err(40272, `${name} specification stage must be an object, got ${typeName(spec)}`);
    if (Object.keys(spec).length === 0) throw err(40177, 'specification must have at least one field');
    // AddFieldsProjectionExecutor: every value is an expression; a sub-document without operators is a nested spec.
    const root = newNode();
    const walk = (obj: Document, prefix: string[]): void => {
      for (const k of Object.keys(obj)) {
        const v = obj[k];
        const parts = [...prefix, ...validateFieldPath(k)];
        if (isDocument(v) && Object.keys(v).length > 0 && Object.keys(v)[0][0] !== '$') walk(v, parts);
        else addAtPath(root, parts, { kind: 'expr', fn: compileExpr(v) });
      }
    };
    walk(spec, []);
    markExpressions(root);
    return (doc: Document, env: Env) => {
      const out: Document = { ...doc };
      applyExpressions(root, out, doc, env, true);
      return out;
    };
  });
}

function compileReplaceRoot(expr: unknown, what: string): (doc: Document, env: Env) => Document {
  const fn = compileExpr(expr);
  return (doc, env) => {
    const v = fn(doc, env);
    if (!isDocument(v)) {
      // document_source_replace_root.cpp ReplaceRootTransformation::applyTransformation.
      throw err(40228, `${what} must evaluate to an object, but resulting value was: ${formatValue(v, 'document')}. Type of resulting value: '${typeName(v)}'. Input document: ${formatValue(doc, 'document')}`);
    }
    return v;
  };
}

// ---------------------------------------------------------------------------------------------
// $group
// ---------------------------------------------------------------------------------------------

interface Accumulator {
  add(v: unknown): void;
  result(): unknown;
}

type AccumulatorFactory = () => Accumulator;

/** The accumulators of $group (src/mongo/db/pipeline/accumulator_*.cpp). Missing values are skipped where the server skips them. */
const ACCUMULATORS: Record<string, AccumulatorFactory> = {
  $sum: () => {
    let total: unknown = 0;
    return { add: (v) => { if (isNumeric(v)) total = addNumbers(total, v); }, result: () => total };
  },
  $avg: () => {
    let total = 0;
    let n = 0;
    return { add: (v) => { if (isNumeric(v)) { total += toDouble(v); n++; } }, result: () => (n === 0 ? null : total / n) };
  },
  $min: () => {
    let best: unknown;
    return { add: (v) => { if (!isNullish(v) && (best === undefined || compareValues(v, best) < 0)) best = v; }, result: () => best ?? null };
  },
  $max: () => {
    let best: unknown;
    return { add: (v) => { if (!isNullish(v) && (best === undefined || compareValues(v, best) > 0)) best = v; }, result: () => best ?? null };
  },
  $first: () => {
    let seen = false;
    let value: unknown = null;
    return { add: (v) => { if (!seen) { seen = true; value = nullIfMissing(v); } }, result: () => value };
  },
  $last: () => {
    let value: unknown = null;
    return { add: (v) => { value = nullIfMissing(v); }, result: () => value };
  },
  $push: () => {
    const out: unknown[] = [];
    return { add: (v) => { if (v !== undefined) out.push(v); }, result: () => out };
  },
  $addToSet: () => {
    const seen = new Set<string>();
    const out: unknown[] = [];
    return {
      add: (v) => {
        if (v === undefined) return;
        const k = groupKey(v);
        if (!seen.has(k)) {
          seen.add(k);
          out.push(v);
        }
      },
      result: () => out,
    };
  },
  $count: () => {
    let n = 0;
    return { add: () => { n++; }, result: () => n };
  },
};

/** A string equal for values that compare equal (numbers by value across types), for grouping. */
export function groupKey(v: unknown): string {
  if (v === undefined || v === null) return 'N';
  switch (typeof v) {
    case 'string':
      return 's' + JSON.stringify(v);
    case 'boolean':
      return v ? 'T' : 'F';
    case 'number':
      return 'n' + numberKey(v);
    case 'bigint':
      return 'n' + v.toString();
  }
  if (Array.isArray(v)) return '[' + v.map(groupKey).join(',') + ']';
  if (isDocument(v)) return '{' + Object.keys(v).filter((k) => v[k] !== undefined).map((k) => JSON.stringify(k) + ':' + groupKey(v[k])).join(',') + '}';
  if (v instanceof Date) return 'd' + v.getTime();
  const tag = (v as { _bsontype?: string })._bsontype;
  switch (tag) {
    case 'Long':
      return 'n' + (v as Long).toBigInt().toString();
    case 'Int32':
    case 'Double':
    case 'Decimal128':
      return 'n' + numberKey(toDouble(v));
    case 'ObjectId':
      return 'o' + (v as { toHexString(): string }).toHexString();
    case 'BSONSymbol':
      return 's' + JSON.stringify(String((v as { value: unknown }).value));
    default:
      return tag + ':' + formatValue(v);
  }
}

function numberKey(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (Number.isInteger(n) && Number.isFinite(n)) return BigInt(n).toString();
  return String(n);
}

function compileGroup(spec: unknown): (input: Iterable<Document>, env: Env) => Iterable<Document> {
  // document_source_group.cpp / accumulation_statement.cpp.
  if (!isDocument(spec)) throw err(15947, "a group's fields must be specified in an object");
  if (!Object.prototype.hasOwnProperty.call(spec, '_id')) throw err(15955, 'a group specification must include an _id');
  const idFn = compileExpr(spec._id);
  const fields: Array<{ name: string; factory: AccumulatorFactory; fn: Fn }> = [];
  for (const name of Object.keys(spec)) {
    if (name === '_id') continue;
    const v = spec[name];
    if (name.includes('.')) throw err(40235, `The field name '${name}' cannot contain '.'`);
    if (name[0] === '$') throw err(40236, `The field name '${name}' cannot be an operator name`);
    if (!isDocument(v)) throw err(40234, `The field '${name}' must be an accumulator object`);
    const keys = Object.keys(v);
    if (keys.length !== 1) throw err(40238, `The field '${name}' must specify one accumulator`);
    const op = keys[0];
    const factory = Object.prototype.hasOwnProperty.call(ACCUMULATORS, op) ? ACCUMULATORS[op] : undefined;
    if (!factory) throw err(15952, `unknown group operator '${op}'`);
    const arg = v[op];
    if (op === '$count') {
      if (!isDocument(arg) || Object.keys(arg).length !== 0) throw new CommandError(2, 'BadValue', '$count takes no arguments, i.e. $count:{}');
      fields.push({ name, factory, fn: () => 1 });
      continue;
    }
    if (Array.isArray(arg)) throw err(40237, `The ${op} accumulator is a unary operator`);
    fields.push({ name, factory, fn: compileExpr(arg) });
  }
  return function* group(input, env) {
    const groups = new Map<string, { id: unknown; accs: Accumulator[] }>();
    for (const doc of input) {
      const id = idFn(doc, env);
      const key = groupKey(id);
      let g = groups.get(key);
      if (!g) {
        g = { id: nullIfMissing(id), accs: fields.map((f) => f.factory()) };
        groups.set(key, g);
      }
      for (let i = 0; i < fields.length; i++) g.accs[i].add(fields[i].fn(doc, env));
    }
    for (const g of groups.values()) {
      const out: Document = { _id: g.id };
      for (let i = 0; i < fields.length; i++) out[fields[i].name] = g.accs[i].result();
      yield out;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// $sort
// ---------------------------------------------------------------------------------------------

/**
 * The sort key of one path: missing is null; an array contributes its elements (an empty array
 * sorts below null); ascending uses the smallest, descending the largest
 * (the manual's Comparison/Sort Order, "Arrays").
 */
function sortKey(doc: Document, parts: string[], dir: number): unknown {
  if (parts.length === 1) {
    const v = getField(doc, parts[0]);
    if (!Array.isArray(v)) return v === undefined ? null : v;
  }
  const state = { best: undefined as unknown, have: false };
  sortKeyVisit(doc, parts, 0, dir, state);
  return state.best;
}

function sortKeyConsider(v: unknown, dir: number, state: { best: unknown; have: boolean }): void {
  if (!state.have || compareValues(v, state.best) * dir < 0) {
    state.best = v;
    state.have = true;
  }
}

function sortKeyVisit(cur: unknown, parts: string[], i: number, dir: number, state: { best: unknown; have: boolean }): void {
  if (i === parts.length) {
    if (Array.isArray(cur)) {
      if (cur.length === 0) sortKeyConsider(undefined, dir, state);
      for (const el of cur) sortKeyConsider(el === undefined ? null : el, dir, state);
    } else {
      sortKeyConsider(cur === undefined ? null : cur, dir, state);
    }
    return;
  }
  if (Array.isArray(cur)) {
    if (cur.length === 0) sortKeyConsider(undefined, dir, state);
    for (const el of cur) sortKeyVisit(el, parts, i, dir, state);
    return;
  }
  if (isDocument(cur)) sortKeyVisit(getField(cur, parts[i]), parts, i + 1, dir, state);
  else sortKeyConsider(null, dir, state);
}

/** compareValues with the common number and string cases first. */
function compareSortKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number' && a === a && b === b) return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string' && a === b) return 0;
  return compareValues(a, b);
}

function compileSort(spec: unknown): (input: Iterable<Document>) => Iterable<Document> {
  // document_source_sort.cpp / sort_pattern.cpp.
  if (!isDocument(spec)) throw err(15973, 'the $sort key specification must be an object');
  const keys = Object.keys(spec).map((k) => {
    const v = spec[k];
    if (isDocument(v) && '$meta' in v) throw err(17312, '$meta is the only expression supported by $sort right now');
    const d = isNumeric(v) ? toDouble(v) : NaN;
    if (d !== 1 && d !== -1) throw err(15975, '$sort key ordering must be 1 (for ascending) or -1 (for descending)');
    return { parts: validateFieldPath(k), dir: d };
  });
  if (keys.length === 0) throw err(15976, '$sort stage must have at least one sort key');
  return function* sort(input) {
    const rows: Array<{ doc: Document; keys: unknown[] }> = [];
    for (const doc of input) {
      const k = new Array<unknown>(keys.length);
      for (let i = 0; i < keys.length; i++) k[i] = sortKey(doc, keys[i].parts, keys[i].dir);
      rows.push({ doc, keys: k });
    }
    // Array.prototype.sort is stable, so equal keys keep their input order.
    rows.sort((a, b) => {
      for (let i = 0; i < keys.length; i++) {
        const c = compareSortKeys(a.keys[i], b.keys[i]);
        if (c !== 0) return c * keys[i].dir;
      }
      return 0;
    });
    for (const r of rows) yield r.doc;
  };
}

// ---------------------------------------------------------------------------------------------
// $unwind
// ---------------------------------------------------------------------------------------------

function setNestedCopy(doc: Document, parts: string[], value: unknown, remove = false): Document {
  const out: Document = { ...doc };
  if (parts.length === 1) {
    if (remove) delete out[parts[0]];
    else out[parts[0]] = value;
    return out;
  }
  const child = getField(doc, parts[0]);
  if (isDocument(child)) out[parts[0]] = setNestedCopy(child, parts.slice(1), value, remove);
  return out;
}

function compileUnwind(spec: unknown): (input: Iterable<Document>) => Iterable<Document> {
  // document_source_unwind.cpp createFromBson.
  let path: string | undefined;
  let preserve = false;
  let indexField: string | undefined;
  if (typeof spec === 'string') {
    path = spec;
  } else if (isDocument(spec)) {
    for (const k of Object.keys(spec)) {
      const v = spec[k];
      if (k === 'path') {
        if (typeof v !== 'string') throw err(28808, `expected a string as the path for $unwind stage, got ${typeName(v)}`);
        path = v;
      } else if (k === 'preserveNullAndEmptyArrays') {
        if (typeof v !== 'boolean') throw err(28809, `expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, got ${typeName(v)}`);
        preserve = v;
      } else if (k === 'includeArrayIndex') {
        if (typeof v !== 'string' || v.length === 0) throw err(28810, `expected a non-empty string for the includeArrayIndex  option to $unwind stage, got ${typeName(v)}`);
        if (v[0] === '$') throw err(28822, `includeArrayIndex option to $unwind stage should not be prefixed with a '$': ${v}`);
        indexField = v;
      } else {
        throw err(28811, `unrecognized option to $unwind stage: ${k}`);
      }
    }
  } else {
    throw err(15981, `expected either a string or an object as specification for $unwind stage, got ${typeName(spec)}`);
  }
  if (!path) throw err(28812, 'no path specified to $unwind stage');
  if (path[0] !== '$') throw err(28818, `path option to $unwind stage should be prefixed with a '$': ${path}`);
  const parts = validateFieldPath(path.slice(1));
  const indexParts = indexField ? validateFieldPath(indexField) : null;
  const withIndex = (d: Document, i: unknown): Document => (indexParts ? setNestedCopy(d, indexParts, i) : d);
  return function* unwind(input) {
    for (const doc of input) {
      const v = getNested(doc, parts);
      if (Array.isArray(v)) {
        if (v.length === 0) {
          // An empty array, preserved: the document without the field.
          if (preserve) yield withIndex(setNestedCopy(doc, parts, undefined, true), null);
          continue;
        }
        for (let i = 0; i < v.length; i++) yield withIndex(setNestedCopy(doc, parts, v[i]), i);
      } else if (isNullish(v)) {
        if (preserve) yield withIndex(doc, null);
      } else {
        yield withIndex(doc, null);
      }
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------------------------

const enum StepKind {
  Filter,
  Map,
  Skip,
  Limit,
}

type Step =
  | { kind: StepKind.Filter; fn: (doc: Document, env: Env) => boolean }
  | { kind: StepKind.Map; fn: (doc: Document, env: Env) => Document }
  | { kind: StepKind.Skip; n: number }
  | { kind: StepKind.Limit; n: number };

type CompiledStage =
  | { streaming: true; step: Step }
  | { streaming: false; run: (input: Iterable<Document>, env: Env) => Iterable<Document> };

/** $match, $project, ... $limit, applied to each document in one loop; stops pulling input once a $limit is reached. */
function* fused(source: Iterable<Document>, steps: Step[], env: Env): Generator<Document> {
  const counters = new Array<number>(steps.length).fill(0);
  const it = source[Symbol.iterator]();
  let stop = false;
  try {
    while (!stop) {
      const r = it.next();
      if (r.done) break;
      let doc = r.value;
      let keep = true;
      for (let i = 0; i < steps.length; i++) {
        const s = steps[i];
        if (s.kind === StepKind.Filter) {
          if (!s.fn(doc, env)) {
            keep = false;
            break;
          }
        } else if (s.kind === StepKind.Map) {
          doc = s.fn(doc, env);
        } else if (s.kind === StepKind.Skip) {
          if (counters[i] < s.n) {
            counters[i]++;
            keep = false;
            break;
          }
        } else {
          counters[i]++;
          if (counters[i] >= s.n) stop = true;
          if (counters[i] > s.n) {
            keep = false;
            break;
          }
        }
      }
      if (keep) yield doc;
    }
  } finally {
    it.return?.();
  }
}

/** parseIntegerElementToNonNegativeLong for $skip and $limit. */
function stageCount(name: string, code: number, spec: unknown): number {
  const elem = formatElement(name, spec);
  let reason: string | undefined;
  if (!isNumeric(spec)) reason = `Expected a number in: ${elem}`;
  else {
    const d = toDouble(spec);
    if (Number.isNaN(d)) reason = `Expected an integer, but found NaN in: ${elem}`;
    else if (!Number.isInteger(d)) reason = `Expected an integer: ${elem}`;
    else if (d < 0) reason = `Expected a non-negative number in: ${elem}`;
    else if (d > Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER;
    else return d;
  }
  // document_source_skip.cpp (5107200) / document_source_limit.cpp (5107201).
  throw err(code, `invalid argument to ${name} stage: ${reason}`);
}

function compileStage(stage: unknown, ctx: PipelineContext): CompiledStage {
  if (!isDocument(stage)) throw new CommandError(14, 'TypeMismatch', "Each element of the 'pipeline' array must be an object");
  const keys = Object.keys(stage);
  // document_source.cpp DocumentSource::parse.
  if (keys.length !== 1) throw err(40323, 'A pipeline stage specification object must contain exactly one field.');
  const name = keys[0];
  const spec = stage[name];
  switch (name) {
    case '$match': {
      if (!isDocument(spec)) throw err(15959, 'the match filter must be an expression in an object');
      const pred = compileFilter(spec, { now: ctx.now });
      return { streaming: true, step: { kind: StepKind.Filter, fn: (d) => pred(d) } };
    }
    case '$project':
      return { streaming: true, step: { kind: StepKind.Map, fn: compileProjectStage(spec, name) } };
    case '$unset':
      return { streaming: true, step: { kind: StepKind.Map, fn: compileUnsetStage(spec) } };
    case '$addFields':
    case '$set':
      return { streaming: true, step: { kind: StepKind.Map, fn: compileAddFieldsStage(spec, name) } };
    case '$replaceRoot': {
      // document_source_replace_root.cpp.
      if (!isDocument(spec)) throw err(40229, `expected an object as specification for $replaceRoot stage, got ${typeName(spec)}`);
      for (const k of Object.keys(spec)) if (k !== 'newRoot') throw err(40415, `BSON field '$replaceRoot.${k}' is an unknown field.`, 'Location40415');
      if (!('newRoot' in spec)) throw err(40414, "BSON field '$replaceRoot.newRoot' is missing but a required field", 'Location40414');
      return { streaming: true, step: { kind: StepKind.Map, fn: compileReplaceRoot(spec.newRoot, "'newRoot' expression") } };
    }
    case '$replaceWith':
      // $replaceWith is $replaceRoot {newRoot: <spec>}; its message names the 'replacement document'.
      return { streaming: true, step: { kind: StepKind.Map, fn: compileReplaceRoot(spec, "'replacement document'") } };
    case '$skip':
      return { streaming: true, step: { kind: StepKind.Skip, n: stageCount('$skip', 5107200, spec) } };
    case '$limit': {
      const n = stageCount('$limit', 5107201, spec);
      if (n === 0) throw err(15958, 'the limit must be positive');
      return { streaming: true, step: { kind: StepKind.Limit, n } };
    }
    case '$sort': {
      const run = compileSort(spec);
      return { streaming: false, run: (input) => run(input) };
    }
    case '$group':
      return { streaming: false, run: compileGroup(spec) };
    case '$count': {
      // document_source_count.cpp.
      if (typeof spec !== 'string') throw err(40156, 'the count field must be a non-empty string');
      if (spec.length === 0) throw err(40157, 'the count field must be a non-empty string');
      if (spec[0] === '$') throw err(40158, 'the count field cannot be a $-prefixed path');
      if (spec.includes('\0')) throw err(40159, 'the count field cannot contain a null byte');
      if (spec.includes('.')) throw err(40160, "the count field cannot contain '.'");
      return {
        streaming: false,
        run: function* count(input) {
          let n = 0;
          for (const _ of input) n++;
          // $count is $group {_id: null, n: {$sum: 1}} + $project: no input, no output.
          if (n > 0) yield { [spec]: n };
        },
      };
    }
    case '$unwind': {
      const run = compileUnwind(spec);
      return { streaming: false, run: (input) => run(input) };
    }
    default: {
      const handler = ctx.stageHandlers && Object.prototype.hasOwnProperty.call(ctx.stageHandlers, name) ? ctx.stageHandlers[name] : undefined;
      if (handler) return { streaming: false, run: (input) => handler(spec, input, ctx) };
      throw err(40324, `Unrecognized pipeline stage name: '${name}'`);
    }
  }
}

/**
 * Parse a pipeline once; the result runs it over any source. Parse errors are thrown here; errors
 * that depend on a document (a $add of a string, ...) are thrown while iterating.
 */
export function compilePipeline(stages: Document[], ctx: PipelineContext): (source: Iterable<Document>) => Iterable<Document> {
  if (!Array.isArray(stages)) throw new CommandError(14, 'TypeMismatch', "'pipeline' option must be specified as an array");
  const compiled = stages.map((s) => compileStage(s, ctx));
  return (source) => {
    const env: Env = { now: ctx.now, vars: null };
    let out: Iterable<Document> = source;
    let steps: Step[] = [];
    const flush = (): void => {
      if (steps.length > 0) {
        out = fused(out, steps, env);
        steps = [];
      }
    };
    for (const c of compiled) {
      if (c.streaming) steps.push(c.step);
      else {
        flush();
        out = c.run(out, env);
      }
    }
    flush();
    return out;
  };
}

/** Run aggregation stages over documents. Lazy: documents are pulled from `source` as the result is iterated. */
export function runPipeline(source: Iterable<Document>, stages: Document[], ctx: PipelineContext): Iterable<Document> {
  return compilePipeline(stages, ctx)(source);
}
