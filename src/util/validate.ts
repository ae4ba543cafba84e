/**
 * Running a compiled JSON Schema validator (ajv standalone code, made by scripts/generate-validators.ts)
 * on an external input and turning ajv's errors into sentences that name the field, say what it
 * must be and what it was: `the manual request's "sessionIds[0]" must be a UUID such as …, got "x"`.
 * Callers add what to do (an example, the setting to fix) and choose the error class.
 *
 * Schemas help the messages with one annotation: a node's `title` says what a value must be, as a
 * phrase completing "must be …" ("a Secrets Manager secret ARN (arn:aws:…)"), and, on a property,
 * what to give when it is missing. Without a title a message says what the failed keyword wants
 * (and quotes the `description` after a failed `pattern`). The validators are generated with
 * `verbose: true`, so every error carries the schema node it failed and the value.
 */
import type { ErrorObject } from 'ajv';

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A generated validator: ajv's ValidateFunction, whatever its type parameter. */
export interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

export interface Subject {
  /** What the whole value is called: "the scheduler input", "REAPER_CLUSTERS". */
  name: string;
  /**
   * How a field inside it is named. "possessive" (the default): the alarm event's
   * "detail.state.value"; "dotted", for settings whose name is an identifier:
   * REAPER_CLUSTERS.orders.secretArn; "quoted", when the caller names the value once before the
   * list: "session.uid".
   */
  fields?: 'possessive' | 'dotted' | 'quoted';
}

/** `data` as a T when the validator accepts it; otherwise throws `fail(every problem, "; "-joined)`. */
export function validated<T>(validate: CompiledValidator, data: unknown, subject: Subject, fail: (problems: string) => Error): T {
  const problems = validationProblems(validate, data, subject);
  if (problems.length > 0) throw fail(problems.join('; '));
  return data as T;
}

/** Every problem of `data`, one sentence each; [] when the validator accepts it. */
export function validationProblems(validate: CompiledValidator, data: unknown, subject: Subject): string[] {
  if (validate(data)) return [];
  const { errors, expected } = relevant(validate.errors ?? []);
  const sentences: string[] = [];
  // One sentence per object for its unknown fields, in the place of the first.
  const unknownFields = new Map<string, { index: number; names: string[] }>();
  for (const error of errors) {
    if (error.keyword !== 'additionalProperties') {
      sentences.push(sentence(error, data, subject, expected.get(error)));
      continue;
    }
    const entry = unknownFields.get(error.instancePath) ?? { index: sentences.push('') - 1, names: [] };
    unknownFields.set(error.instancePath, entry);
    entry.names.push(JSON.stringify(String(error.params.additionalProperty)));
    const allowed = Object.keys(schemaOf(error).properties ?? {});
    const where = label(subject, segmentsOf(error.instancePath, data));
    sentences[entry.index] = `${where} has unknown field${entry.names.length > 1 ? 's' : ''} ${entry.names.join(', ')}; allowed: ${allowed.join(', ') || '(none)'}`;
  }
  // Never "invalid" without a reason, whatever the schema: ajv's own words if the rules above kept nothing.
  if (sentences.length === 0) {
    return (validate.errors ?? []).map((e) => `${label(subject, segmentsOf(e.instancePath, data))} ${e.message ?? `does not match the schema (${e.keyword} at ${e.schemaPath})`}`);
  }
  return [...new Set(sentences)];
}

/** The part of a schema node a message uses. */
interface SchemaNode {
  title?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  oneOf?: SchemaNode[];
  const?: unknown;
  enum?: unknown[];
}

function schemaOf(error: ErrorObject): SchemaNode {
  return (error.parentSchema ?? {}) as SchemaNode;
}

/** What a failed alternative wanted: of the value itself, or of one field of it (`at`, a pointer). */
interface Expected {
  phrase: string;
  at?: string;
}

/**
 * The errors worth a sentence, and for some `oneOf`/`anyOf` failures what the value must be.
 *
 * ajv reports a value that fails `oneOf`/`anyOf` with the errors of every branch, in branch order,
 * right before the failure itself. A branch whose own `type` does not fit the value (the
 * `…/anyOf/N/type` error) is out; when exactly one branch is left, its errors are the ones that
 * matter (a route given as an object is checked as the object form). Otherwise the failure stands
 * for all of them, saying what each branch wanted ("" or a UUID), or the node's title.
 * `if` failures only announce their `then` errors, and a `propertyNames` failure its inner one.
 */
function relevant(all: readonly ErrorObject[]): { errors: ErrorObject[]; expected: Map<ErrorObject, Expected> } {
  const dropped = new Set<ErrorObject>();
  const expected = new Map<ErrorObject, Expected>();
  all.forEach((alt, index) => {
    if (alt.keyword !== 'oneOf' && alt.keyword !== 'anyOf') return;
    const at = alt.instancePath;
    // The branches' errors: the run of errors inside the value just before the failure.
    let start = index;
    while (start > 0 && within(all[start - 1]!.instancePath, at)) start--;
    const block = all.slice(start, index);
    const branchCount = Array.isArray(alt.schema) ? alt.schema.length : 0;
    // Which branch each error is of: the branch of the last error that names its branch in its
    // schemaPath (errors from a $ref name the referenced schema instead).
    let current = -1;
    const branchOf = block.map((e) => {
      const m = new RegExp(`^${escape(alt.schemaPath)}/(\\d+)/`).exec(e.schemaPath);
      if (m) current = Number(m[1]);
      return current;
    });
    const mistyped = new Set(block.flatMap((e, k) => (e.instancePath === at && e.keyword === 'type' && e.schemaPath === `${alt.schemaPath}/${branchOf[k]}/type` ? [branchOf[k]!] : [])));
    const several = Array.isArray((alt.params as { passingSchemas?: unknown }).passingSchemas);
    if (!several && branchCount - mistyped.size === 1) {
      // A branch of the wrong type checked nothing inside the value: only its type-free keywords
      // (const, enum, not, a $ref's own type) can have failed, at the value itself.
      const others = block.filter((e, k) => mistyped.has(branchOf[k]!) && e.instancePath === at && UNTYPED.has(e.keyword));
      if (others.length < block.length) {
        for (const e of others) dropped.add(e);
        dropped.add(alt);
        return;
      }
    }
    for (const e of block) dropped.add(e);
    const wanted = several ? undefined : branchExpectations(block, at, alt, branchCount);
    if (wanted) expected.set(alt, wanted);
  });
  const inner = new Set(all.filter((e) => e.propertyName !== undefined).map((e) => `${e.instancePath}\0${e.propertyName}`));
  const errors = all.filter((e) => !dropped.has(e) && e.keyword !== 'if'
    && !(e.keyword === 'propertyNames' && inner.has(`${e.instancePath}\0${String(e.params.propertyName)}`))
    // A `format` restating a failed `pattern` of the same value adds nothing.
    && !(e.keyword === 'format' && all.some((o) => o.keyword === 'pattern' && o.instancePath === e.instancePath && !dropped.has(o))));
  return { errors, expected };
}

/**
 * What the branches of a failed alternative wanted, as one phrase: each branch's expectation of the
 * value ("" or a UUID), or, when every branch wanted a different constant in one field (a `kind`),
 * that field's values. Undefined when the branches wanted something else (then the title speaks).
 */
function branchExpectations(block: readonly ErrorObject[], at: string, alt: ErrorObject, branchCount: number): Expected | undefined {
  const byField = new Map<string, unknown[]>();
  for (const e of block) {
    if (e.keyword !== 'const' || !e.instancePath.startsWith(`${at}/`) || e.instancePath.slice(at.length + 1).includes('/')) continue;
    byField.set(e.instancePath, [...(byField.get(e.instancePath) ?? []), (e.params as { allowedValue: unknown }).allowedValue]);
  }
  for (const [path, values] of byField) {
    if (values.length === branchCount) return { at: path, phrase: values.map((v) => JSON.stringify(v)).join(' or ') };
  }
  const phrases = block.filter((e) => e.instancePath === at && ['type', 'const', 'enum', 'pattern', 'format'].includes(e.keyword))
    .map((e) => schemaOf(e).title ?? expectation(e));
  return phrases.length > 0 && !schemaOf(alt).title ? { phrase: [...new Set(phrases)].join(' or ') } : undefined;
}

const UNTYPED = new Set(['type', 'const', 'enum', 'not']);

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

function sentence(error: ErrorObject, data: unknown, subject: Subject, expected: Expected | undefined): string {
  const path = segmentsOf(error.instancePath, data);
  const schema = schemaOf(error);
  const params = error.params as Record<string, unknown>;
  const value = error.data;
  const at = label(subject, path);
  if (expected?.at !== undefined) {
    // Every branch wanted its own constant in one field: that field is what is wrong.
    const field = segmentsOf(expected.at, data);
    const fieldValue = isObject(value) ? value[String(field[field.length - 1])] : undefined;
    return `${label(subject, field)} must be ${expected.phrase}, got ${preview(fieldValue)}`;
  }
  if (error.propertyName !== undefined) return `${at}: key ${JSON.stringify(error.propertyName)} must be ${schema.title ?? expectation(error)}`;
  switch (error.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      const title = schema.properties?.[missing]?.title;
      return `${label(subject, [...path, missing])} is missing${title ? `; give ${title}` : ''}`;
    }
    case 'discriminator': {
      const tag = String(params.tag);
      const values = (schema.oneOf ?? []).flatMap((b) => {
        const s = b.properties?.[tag];
        return s?.const !== undefined ? [s.const] : s?.enum ?? [];
      });
      const where = label(subject, [...path, tag]);
      return params.tagValue === undefined
        ? `${where} is missing; give one of ${values.join(', ')}`
        : `${where} must be one of ${values.join(', ')}, got ${preview(params.tagValue)}`;
    }
    case 'maxLength':
      return `${at} has ${typeof value === 'string' ? [...value].length : '?'} characters; at most ${String(params.limit)}`;
    case 'maxItems':
      return `${at} has ${Array.isArray(value) ? value.length : '?'} entries; at most ${String(params.limit)}`;
    case 'not': {
      const not = error.schema as SchemaNode | undefined;
      return `${at} must not be ${not?.const !== undefined ? JSON.stringify(not.const) : 'this value'}`;
    }
    default:
      return `${at} must be ${expected?.phrase ?? schema.title ?? expectation(error)}, got ${preview(value)}`;
  }
}

/** What the failed keyword accepts, when the schema node has no title. */
function expectation(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type':
      return String(params.type).split(',').map(typeName).join(' or ');
    case 'enum':
      return `one of ${(params.allowedValues as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
    case 'const':
      return JSON.stringify(params.allowedValue);
    case 'pattern': {
      const description = schemaOf(error).description;
      return `a string matching ${String(params.pattern)}${description ? ` (${description})` : ''}`;
    }
    case 'format':
      return `a ${String(params.format)}`;
    case 'minLength':
      return params.limit === 1 ? 'a non-empty string' : `at least ${String(params.limit)} characters`;
    case 'minItems':
      return params.limit === 1 ? 'a non-empty array' : `an array of at least ${String(params.limit)} entries`;
    case 'minProperties':
      return `an object with at least ${String(params.limit)} field(s)`;
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return `${String(params.comparison)} ${String(params.limit)}`;
    case 'oneOf': case 'anyOf':
      return 'one of the accepted forms';
    default:
      return `valid (${error.message ?? error.keyword})`;
  }
}

function typeName(type: string): string {
  switch (type) {
    case 'boolean': return 'true or false';
    case 'integer': return 'a whole number';
    case 'object': return 'an object';
    case 'array': return 'an array';
    case 'null': return 'null';
    default: return `a ${type}`;
  }
}

/** The instance path's segments, array indexes as numbers. */
function segmentsOf(pointer: string, data: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  let at: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const index = Array.isArray(at) && /^\d+$/.test(segment) ? Number(segment) : null;
    out.push(index ?? segment);
    at = index !== null ? (at as unknown[])[index] : isObject(at) ? at[segment] : undefined;
  }
  return out;
}

function label(subject: Subject, path: readonly (string | number)[]): string {
  if (path.length === 0) return subject.name;
  const fields = path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
  switch (subject.fields ?? 'possessive') {
    case 'dotted': return `${subject.name}${typeof path[0] === 'number' ? '' : '.'}${fields}`;
    case 'quoted': return `"${fields}"`;
    default: return `${subject.name}'s "${fields}"`;
  }
}

/** A value quoted in a message, cut short: the offending value may be a whole document. */
export function preview(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
