/**
 * Policy parameters: the numeric thresholds an operator tunes without editing rules. A value comes,
 * in increasing precedence, from the declared default, from the declared environment variable and
 * from an override (the CLI passes its flags there, keyed by parameter name). Parameters are shared
 * by every file of a set, so a parameter declared twice must be declared the same way.
 */
import { ConfigError } from '../../util/errors.ts';
import { isObject } from '../../util/validate.ts';
import type { ParameterInfo } from './types.ts';
import type { PolicyProblem } from './problems.ts';

/** A parameter as declared in the policy files: its resolved ParameterInfo without the value. */
export type ParameterDeclaration = Omit<ParameterInfo, 'value' | 'source'>;

export interface ParameterSources {
  env?: Record<string, string | undefined>;
  overrides?: Record<string, number>;
}

type RawDeclaration = Partial<Record<'default' | 'minimum' | 'maximum', unknown>> & Partial<Record<'env' | 'flag' | 'description', unknown>>;

const COMPARED_FIELDS = ['default', 'env', 'flag', 'minimum', 'maximum'] as const;

function asNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Gathers the declarations of every file. Malformed declarations were already reported by the
 * schema check; they are still registered (with what can be read) so that rules referring to them
 * are not reported a second time as referring to an unknown parameter.
 */
export function collectParameters(files: readonly { file: string; doc: unknown }[]): {
  declarations: Map<string, ParameterDeclaration>;
  problems: PolicyProblem[];
} {
  const declarations = new Map<string, ParameterDeclaration>();
  const problems: PolicyProblem[] = [];
  for (const { file, doc } of files) {
    const params = (doc as { parameters?: unknown } | null)?.parameters;
    if (!isObject(params)) continue;
    for (const [name, rawValue] of Object.entries(params)) {
      const raw = (isObject(rawValue) ? rawValue : {}) as RawDeclaration;
      const decl: ParameterDeclaration = {
        name,
        default: asNumber(raw.default) ?? 0,
        env: asString(raw.env),
        flag: asString(raw.flag),
        description: asString(raw.description) ?? '',
        minimum: asNumber(raw.minimum),
        maximum: asNumber(raw.maximum),
        declaredIn: [file],
      };
      const field = `parameters.${name}`;
      if (decl.minimum !== undefined && decl.maximum !== undefined && decl.minimum > decl.maximum) {
        problems.push({ file, field, message: `minimum ${decl.minimum} is above maximum ${decl.maximum}; swap or fix them` });
      } else if (asNumber(raw.default) !== undefined) {
        const range = rangeProblem(decl, decl.default);
        if (range) problems.push({ file, field: `${field}.default`, message: `default ${range}` });
      }
      const earlier = declarations.get(name);
      if (!earlier) {
        declarations.set(name, decl);
        continue;
      }
      const differing = COMPARED_FIELDS.filter((k) => earlier[k] !== decl[k]);
      if (differing.length > 0) {
        const what = differing.map((k) => `${k} ${JSON.stringify(earlier[k])} in ${earlier.declaredIn[0]} but ${JSON.stringify(decl[k])} here`).join('; ');
        problems.push({
          file,
          field,
          message: `parameter "${name}" is already declared differently (${what}); parameters are shared by the whole set, so declare it once or identically`,
        });
      } else {
        earlier.declaredIn.push(file);
      }
    }
  }
  problems.push(...sharedSourceProblems(declarations));
  return { declarations, problems };
}

/** Two parameters read from one environment variable or one flag would silently move together. */
function sharedSourceProblems(declarations: Map<string, ParameterDeclaration>): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const key of ['env', 'flag'] as const) {
    const owner = new Map<string, ParameterDeclaration>();
    for (const decl of declarations.values()) {
      const source = decl[key];
      if (source === undefined) continue;
      const first = owner.get(source);
      if (first) {
        problems.push({
          file: decl.declaredIn[0]!,
          field: `parameters.${decl.name}.${key}`,
          message: `${key} "${source}" is also used by parameter "${first.name}" (${first.declaredIn[0]}); give each parameter its own ${key}`,
        });
      } else owner.set(source, decl);
    }
  }
  return problems;
}

function rangeProblem(decl: ParameterDeclaration, value: number): string | null {
  if (decl.minimum !== undefined && value < decl.minimum) return `${value} is below the minimum ${decl.minimum}`;
  if (decl.maximum !== undefined && value > decl.maximum) return `${value} is above the maximum ${decl.maximum}`;
  return null;
}

/** A decimal number; Number() alone would also accept "", "0x10" and "Infinity". */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Computes every parameter's value. Bad environment values or overrides are configuration errors
 * (not policy errors): all of them are reported in one ConfigError naming the variable or flag.
 */
export function resolveParameters(
  declarations: Map<string, ParameterDeclaration>,
  sources: ParameterSources = {},
): Record<string, ParameterInfo> {
  const env = sources.env ?? process.env;
  const overrides = sources.overrides ?? {};
  const problems: string[] = [];
  const info: Record<string, ParameterInfo> = {};
  for (const decl of declarations.values()) {
    let value = decl.default;
    let source: ParameterInfo['source'] = 'default';
    const envText = decl.env !== undefined ? env[decl.env] : undefined;
    if (decl.env !== undefined && envText !== undefined) {
      const trimmed = envText.trim();
      const range = DECIMAL.test(trimmed) && Number.isFinite(Number(trimmed)) ? rangeProblem(decl, Number(trimmed)) : 'is not a finite decimal number';
      if (range) {
        problems.push(`environment variable ${decl.env}=${JSON.stringify(envText)} ${range}; set it to a number for parameter "${decl.name}" (${describeDecl(decl)}) or unset it to use the default ${decl.default}`);
      } else {
        value = Number(trimmed);
        source = 'env';
      }
    }
    if (Object.prototype.hasOwnProperty.call(overrides, decl.name) && overrides[decl.name] !== undefined) {
      const override: unknown = overrides[decl.name];
      const where = decl.flag !== undefined ? `flag --${decl.flag}` : `override "${decl.name}"`;
      const range = typeof override === 'number' && Number.isFinite(override) ? rangeProblem(decl, override) : 'is not a finite number';
      if (range) {
        problems.push(`${where}=${JSON.stringify(String(override))} ${range}; pass a number for parameter "${decl.name}" (${describeDecl(decl)}) or leave it out to use ${source === 'env' ? `${decl.env}` : `the default ${decl.default}`}`);
      } else {
        value = override as number;
        source = 'override';
      }
    }
    info[decl.name] = {
      name: decl.name, value, source, default: decl.default, env: decl.env, flag: decl.flag,
      description: decl.description, minimum: decl.minimum, maximum: decl.maximum, declaredIn: [...decl.declaredIn],
    };
  }
  for (const name of Object.keys(overrides)) {
    if (!declarations.has(name)) {
      const known = [...declarations.keys()].join(', ') || '(none)';
      problems.push(`override "${name}" names no parameter of this policy set; declared parameters: ${known}`);
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(problems.length === 1 ? problems[0]! : `${problems.length} parameter settings are invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return info;
}

function describeDecl(decl: ParameterDeclaration): string {
  const range = [decl.minimum !== undefined ? `min ${decl.minimum}` : '', decl.maximum !== undefined ? `max ${decl.maximum}` : ''].filter(Boolean).join(', ');
  return `${decl.description || 'no description'}${range ? `; ${range}` : ''}`;
}
