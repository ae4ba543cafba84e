/**
 * `session-reaper policies test [DIR] [--evaluator json-rules-engine] [--json]`: runs the test cases beside a
 * policy set (DIR/tests/*.json, src/pass/policy/test-file.ts), one PASS or FAIL line per case, with what was
 * expected and what was decided for each failure. Cases run against the set's declared parameter values
 * (environment variables are not read: a test means the same everywhere), changed per case by "parameters".
 * Snapshot cases go through the pass's own decision path, as a dry run without the blast-radius caps.
 *
 * Exit codes: 0 every case passed; 1 a case failed, or the policy set or a test file is invalid (every
 * problem listed, naming file, case and field); 2 bad usage.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { excerptContent } from '../adapters/snapshot/excerpt.ts';
import { SnapshotReplayPort } from '../adapters/snapshot/replay-port.ts';
import { decideOffline } from '../pass/backtest.ts';
import { loadPolicySet } from '../pass/policy/load.ts';
import { formatTestProblem, parseTestFiles, TESTS_DIR, type PolicyTestCase } from '../pass/policy/test-file.ts';
import { describeDecided, runPolicyTests, type CaseResult, type ExcerptDecider } from '../pass/policy/test-run.ts';
import type { PolicySet } from '../pass/policy/types.ts';
import { DEFAULT_POLICIES_DIR, resolveSettings } from '../service/config.ts';
import { ConfigError, PolicyError } from '../util/errors.ts';
import { POLICIES_TEST_USAGE } from './policies.ts';
import { splitFlags, type CliIo, type FlagSpec } from './run.ts';



const FLAGS: FlagSpec = { valued: new Set(['evaluator']), booleans: new Set(['json', 'help']), positionals: true, usage: POLICIES_TEST_USAGE };

/** Planned kills a test excerpt may hold without turning its pass report-only: the largest --max-kills accepts. */
const NO_CAP = 10_000_000;

const decideExcerpt: ExcerptDecider = async (excerpt, where, policy, evaluator) => {
  const report = await decideOffline(new SnapshotReplayPort(excerptContent(excerpt, where)), policy, { nowMs: excerpt.timeMs, maxKills: NO_CAP, maxKillShare: 1, evaluator });
  if (report.error) throw new Error(report.error);
  return report.decisions;
};

function renderFailure(r: CaseResult, c: PolicyTestCase): string[] {
  const lines: string[] = [];
  for (const m of r.mismatches) lines.push(`${`${m.field}:`.padEnd(9)} expected ${m.expected}, decided ${m.decided}`);
  if (r.error) lines.push(`error:    ${r.error}`);
  if (r.decided) {
    lines.push(`decided:  ${describeDecided(r.decided)}${r.decided.outcome ? `, outcome ${r.decided.outcome}` : ''}${r.decided.reason ? ` (${r.decided.reason})` : ''}`);
    if (c.input.kind === 'facts') lines.push(`matched:  ${r.decided.matched.join(', ') || '(no rule)'}`);
  }
  if (c.input.kind === 'facts') lines.push(`facts:    ${JSON.stringify(c.input.given)}`);
  if (Object.keys(c.parameters).length) lines.push(`with:     ${JSON.stringify(c.parameters)}`);
  return lines.map((l) => `        ${l}`);
}

export async function policyTestsCommand(argv: string[], io: CliIo): Promise<number> {
  let dir: string;
  let crossCheck: boolean;
  let json: boolean;
  try {
    const { flags, extra, positionals } = splitFlags(argv, FLAGS);
    if (flags.help === true) {
      io.stdout.write(`${POLICIES_TEST_USAGE}\n`);
      return 0;
    }
    const unknown = Object.keys(extra);
    if (unknown.length) throw new ConfigError(`unknown option --${unknown[0]}\n${POLICIES_TEST_USAGE}`);
    if (positionals.length > 1) throw new ConfigError(`one policy directory at most, got ${positionals.length}\n${POLICIES_TEST_USAGE}`);
    dir = positionals[0] ?? DEFAULT_POLICIES_DIR;
    crossCheck = resolveSettings(['evaluator'], flags, io.env).evaluator === 'json-rules-engine';
    json = flags.json === true;
  } catch (e) {
    io.stderr.write(`session-reaper policies test: ${(e as Error).message}\n`);
    return 2;
  }
  let set: PolicySet;
  try {
    set = await loadPolicySet(dir, { env: {} });
  } catch (e) {
    io.stderr.write(`${(e as Error).message}\n`);
    return e instanceof PolicyError ? 1 : 2;
  }
  const testsDir = join(dir, TESTS_DIR);
  const names = (await readdir(testsDir).catch(() => [] as string[])).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  if (names.length === 0) {
    io.stderr.write(`session-reaper policies test: no test files in ${testsDir}: add ${TESTS_DIR}/*.json beside the policies, one case per rule at least (see policies/tests/ and docs/policies.md)\n`);
    return 1;
  }
  const files = await Promise.all(names.map(async (name) => ({ name: `${TESTS_DIR}/${name}`, text: await readFile(join(testsDir, name), 'utf8') })));
  const { cases, problems } = parseTestFiles(files, set);
  if (problems.length) {
    io.stderr.write(`test files in ${testsDir} have ${problems.length === 1 ? '1 problem' : `${problems.length} problems`}; fix all of them and run again:\n${problems.map((p) => `  - ${formatTestProblem(p)}`).join('\n')}\n`);
    return 1;
  }
  const sets = new Map<string, Promise<PolicySet>>([['{}', Promise.resolve(set)]]);
  const policyFor = (parameters: Record<string, number>): Promise<PolicySet> => {
    const key = JSON.stringify(parameters);
    let s = sets.get(key);
    if (!s) sets.set(key, (s = loadPolicySet(dir, { env: {}, overrides: parameters })));
    return s;
  };
  const results = await runPolicyTests(cases, { policyFor, decideExcerpt, crossCheck });
  const failed = results.filter((r) => !r.passed).length;
  if (json) {
    io.stdout.write(`${JSON.stringify({ dir, cases: results.length, passed: results.length - failed, failed, results })}\n`);
  } else {
    const out: string[] = [];
    let file = '';
    results.forEach((r, i) => {
      if (r.file !== file) out.push((file = r.file));
      out.push(`  ${r.passed ? 'PASS' : 'FAIL'}  ${r.name}`);
      if (!r.passed) out.push(...renderFailure(r, cases[i]!));
    });
    out.push('', `${results.length} cases: ${results.length - failed} passed, ${failed} failed${crossCheck ? ' (each also decided by json-rules-engine)' : ''}`);
    io.stdout.write(`${out.join('\n')}\n`);
  }
  return failed ? 1 : 0;
}
