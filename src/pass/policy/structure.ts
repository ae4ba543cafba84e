/**
 * Structural check of one policy file against policies/schema.json (JSON Schema 2020-12, ajv).
 * ajv's raw errors are turned into problems that name the rule and the field and say how to fix
 * them; the fact, operator and value checks that a schema cannot express come after, in rules.ts.
 */
import type { ErrorObject } from 'ajv';
// policies/schema.json compiled ahead of time by scripts/generate-validators.ts (`npm run generate`):
// compiling it with ajv at start-up was most of a Lambda cold start.
import { validatePolicyFile as validateFile } from './generated/validate-policy-file.js';
import type { PolicyProblem } from './problems.ts';
import { fieldPath, ruleLabel } from './paths.ts';

/** Why a property is not allowed, for the ones people reach for from json-rules-engine's docs. */
const REFUSED_PROPERTIES: Record<string, string> = {
  path: '"path" is not allowed: facts are flat values with nothing to select inside; remove "path" and name the fact directly',
  params: '"params" is not allowed on a condition: facts are constants, not functions of parameters; remove it',
  condition: 'condition references are not supported: write the condition inline',
  priority: 'condition priorities are not supported (they only reorder evaluation); remove "priority" from the condition',
};

export function checkStructure(file: string, doc: unknown): PolicyProblem[] {
  if (validateFile(doc)) return [];
  const errors = (validateFile.errors ?? []).filter((e) => e.keyword !== 'if');
  // A condition that is neither all/any/not nor a leaf yields one "required: not" error plus an
  // error per stray property at the same place; one clear message is better than five.
  const shapeErrorPaths = new Set(errors.filter(isNotAGroup).map((e) => e.instancePath));
  const problems: PolicyProblem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (shapeErrorPaths.has(error.instancePath) && !isNotAGroup(error)) continue;
    const problem = toProblem(file, doc, error);
    const key = `${problem.rule}|${problem.field}|${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

/** The error ajv gives for an object that is none of all / any / not where a group is required. */
function isNotAGroup(error: ErrorObject): boolean {
  return error.keyword === 'required' && (error.params as { missingProperty?: string }).missingProperty === 'not';
}

/** A value quoted in a message, cut short: the offending value may be a whole rule. */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function toProblem(file: string, doc: unknown, error: ErrorObject): PolicyProblem {
  const segments = error.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as Record<string, unknown>;
  let message: string;
  let extra: string | number | undefined;
  switch (error.keyword) {
    case 'additionalProperties': {
      const prop = String(params.additionalProperty);
      extra = prop;
      const allowed = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      message = REFUSED_PROPERTIES[prop] && segments.includes('conditions')
        ? REFUSED_PROPERTIES[prop]!
        : `unknown property "${prop}"; allowed here: ${allowed.join(', ') || '(none)'}`;
      break;
    }
    case 'required': {
      const missing = String(params.missingProperty);
      if (missing !== 'not') extra = missing;
      message = missing === 'not'
        ? 'a condition group must be exactly one of {"all": [...]}, {"any": [...]} or {"not": {...}}' +
          (segments[segments.length - 1] === 'conditions' ? ' (json-rules-engine requires one at the root of "conditions")' : '')
        : `missing required property "${missing}"`;
      if (missing === 'reason') message += ': say why the action is taken, it goes into the audit';
      break;
    }
    case 'enum':
      message = `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${preview(error.data)}`;
      break;
    case 'const':
      message = `must be ${JSON.stringify(params.allowedValue)}, got ${preview(error.data)}`;
      break;
    case 'type':
      message = `must be ${params.type === 'object' ? 'an object' : params.type === 'array' ? 'an array' : `a ${String(params.type)}`}, got ${preview(error.data)}`;
      break;
    case 'minItems':
      message = segments[segments.length - 1] === 'all' || segments[segments.length - 1] === 'any'
        ? `an empty "${segments[segments.length - 1]}" is refused: json-rules-engine evaluates both empty "all" and empty "any" as true, so the rule would match every session; add conditions`
        : `must have at least ${String(params.limit)} item(s)`;
      break;
    case 'pattern': {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      message = `${preview(error.data)} must match ${String(params.pattern)}${description ? ` (${description})` : ''}`;
      break;
    }
    case 'propertyNames':
      message = `parameter name ${JSON.stringify(params.propertyName)} must start with a letter and use letters, digits and _ only`;
      break;
    default:
      message = error.message ?? `fails schema keyword ${error.keyword}`;
  }
  if (error.keyword === 'propertyNames') return { file, field: fieldPath(segments), message };
  if (segments[0] === 'rules' && segments.length >= 2) {
    return { file, rule: ruleLabel(doc, Number(segments[1])), field: fieldPath(extra !== undefined ? [...segments.slice(2), extra] : segments.slice(2)) || undefined, message };
  }
  return { file, field: fieldPath(extra !== undefined ? [...segments, extra] : segments) || undefined, message };
}
