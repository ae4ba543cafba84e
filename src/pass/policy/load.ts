/**
 * Loads a policy set: a directory of *.json policy files, read in name order. Every file is parsed,
 * checked against policies/schema.json and then against the fact catalogue and the operator table;
 * all problems of all files are collected and thrown as one PolicyError (PolicySetError), so a
 * broken directory is fixed in one go. Parameters are resolved from defaults, the environment and
 * overrides, and substituted into condition values and reasons, so the evaluators see plain rules.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isObject } from '../../util/validate.ts';
import { conditionDepthProblems } from './depth.ts';
import { parseJsonWithPosition } from './json.ts';
import { collectParameters, resolveParameters, type ParameterSources } from './parameters.ts';
import { PolicySetError, type PolicyProblem } from './problems.ts';
import { loadRules, type DisabledRule, type RuleContext } from './rules.ts';
import { checkStructure } from './structure.ts';
import type { LoadedRule, PolicySet } from './types.ts';

export type { PolicySet, LoadedRule, Action, ConditionNode, TopLevelCondition, LeafCondition, ParameterInfo } from './types.ts';
export { PolicySetError, type PolicyProblem } from './problems.ts';

export type LoadOptions = ParameterSources;

export interface PolicyFileText {
  /** Path of the file; problems name it by its base name. */
  path: string;
  text: string;
}

/**
 * The schema sits next to the policies so that editors find it through "$schema": "./schema.json";
 * it is not a policy file.
 */
const SCHEMA_FILE = 'schema.json';

export async function loadPolicySet(dir: string, opts: LoadOptions = {}): Promise<PolicySet> {
  let names: string[];
  try {
    const candidates = (await readdir(dir)).filter((name) => name.endsWith('.json') && name !== SCHEMA_FILE && !name.startsWith('.'));
    // stat, not the directory entry's type: a Kubernetes ConfigMap mounts each file as a symlink.
    const isFile = await Promise.all(candidates.map(async (name) => (await stat(join(dir, name))).isFile()));
    names = candidates.filter((_, i) => isFile[i]).sort();
  } catch (err) {
    throw new PolicySetError(dir, [{ file: dir, message: `cannot read the policy directory (${(err as Error).message}); point the reaper at a directory of *.json policy files` }]);
  }
  const files = await Promise.all(names.map(async (name) => ({ path: join(dir, name), text: await readFile(join(dir, name), 'utf8') })));
  return parsePolicySet(files, { ...opts, dir });
}

/**
 * Pure: builds a policy set from file texts (sorted here by file name, the load order). Throws
 * PolicySetError (a PolicyError) listing every problem, or ConfigError when the policy is valid but
 * an environment variable or override is not an acceptable number.
 */
export function parsePolicySet(files: readonly PolicyFileText[], opts: LoadOptions & { dir?: string } = {}): PolicySet {
  const dir = opts.dir ?? commonDir(files.map((f) => f.path));
  const sorted = [...files].map((f) => ({ ...f, name: baseName(f.path) })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (sorted.length === 0) {
    throw new PolicySetError(dir, [{ file: dir, message: 'no *.json policy files found; add at least one (see policies/default.json)' }]);
  }

  const problems: PolicyProblem[] = [];
  const parsed: { file: string; doc: unknown }[] = [];
  for (const { name, text } of sorted) {
    const result = parseJsonWithPosition(text.startsWith('\uFEFF') ? text.slice(1) : text);
    if (!result.ok) {
      problems.push({ file: name, message: `is not valid JSON at line ${result.line}, column ${result.column} (${result.message}); fix the syntax there` });
      continue;
    }
    const doc = result.value;
    if (!isObject(doc)) {
      problems.push({ file: name, message: 'must be a JSON object with "version": 1 and a "rules" array' });
      continue;
    }
    // Checked first: every later check walks condition trees recursively. A file with a tree past
    // the limit gets only these problems; its other ones show on the next check, once it is flat.
    const tooDeep = conditionDepthProblems(name, doc);
    if (tooDeep.length > 0) {
      problems.push(...tooDeep);
      continue;
    }
    problems.push(...checkStructure(name, doc));
    parsed.push({ file: name, doc });
  }

  const { declarations, problems: parameterProblems } = collectParameters(parsed);
  problems.push(...parameterProblems);

  // Rules are checked with the defaults, so that a policy problem is reported even when an
  // environment variable is also wrong; the real values are substituted once both are fine.
  const defaults = new Map([...declarations.values()].map((d) => [d.name, d.default]));
  const check = buildRules(parsed, defaults);
  problems.push(...check.problems);
  if (problems.length > 0) {
    // Grouped by file (stable: within a file, structure problems first, then the rest in rule order).
    const order = new Map(sorted.map((f, i) => [f.name, i]));
    problems.sort((a, b) => (order.get(a.file) ?? -1) - (order.get(b.file) ?? -1));
    throw new PolicySetError(dir, problems);
  }

  const parameterInfo = resolveParameters(declarations, opts);
  const parameters = Object.fromEntries(Object.values(parameterInfo).map((p) => [p.name, p.value]));
  const final = buildRules(parsed, new Map(Object.entries(parameters)));
  // Value checks do not depend on a number's size, so this cannot find anything new; if it ever
  // did, dropping the offending rules silently would be far worse than failing.
  if (final.problems.length > 0) throw new PolicySetError(dir, final.problems);
  const { rules, disabled } = final;
  return { dir, files: sorted.map((f) => f.name), parameters, rules, parameterInfo, ...(disabled.length ? { disabledRules: disabled } : {}) };
}

function buildRules(parsed: readonly { file: string; doc: unknown }[], parameters: ReadonlyMap<string, number>) {
  const ctx: RuleContext = { parameters, seenNames: new Map() };
  const rules: LoadedRule[] = [];
  const problems: PolicyProblem[] = [];
  const disabled: DisabledRule[] = [];
  for (const { file, doc } of parsed) {
    const result = loadRules(file, doc, ctx);
    rules.push(...result.rules);
    problems.push(...result.problems);
    disabled.push(...result.disabled);
  }
  return { rules, problems, disabled };
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1]!;
}

function commonDir(paths: readonly string[]): string {
  const dirs = [...new Set(paths.map((p) => p.slice(0, Math.max(0, p.length - baseName(p).length)).replace(/[\\/]$/, '')))];
  return dirs.length === 1 ? dirs[0] || '.' : '(in-memory policy set)';
}
