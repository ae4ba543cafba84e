/**
 * `session-reaper policies check [DIR]`: validates a policy set and shows its rules and thresholds.
 * Exit 0 when valid; 1 with every problem listed (file, rule, field) when not.
 * `session-reaper policies test [DIR]`: runs the set's test cases (policy-tests.ts).
 */
import { DEFAULT_POLICIES_DIR } from '../service/config.ts';
import { PolicyError } from '../util/errors.ts';
import { loadPolicySet } from '../pass/policy/load.ts';
import { unknownFactWarnings } from '../pass/policy/unknown-check.ts';
import { formatTable } from '../util/table.ts';
import type { CliIo } from './run.ts';

export const POLICIES_TEST_USAGE = 'usage: session-reaper policies test [DIR] [--evaluator compiled|json-rules-engine] [--json]';

export async function policiesCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, dirArg, ...rest] = argv;
  if (sub === 'test') return (await import('./policy-tests.ts')).policyTestsCommand(argv.slice(1), io);
  if (sub !== 'check' || rest.length) {
    io.stderr.write(`usage: session-reaper policies check [DIR]\n       ${POLICIES_TEST_USAGE.replace(/^usage: /, '')}\n`);
    return 2;
  }
  const dir = dirArg ?? DEFAULT_POLICIES_DIR;
  try {
    const set = await loadPolicySet(dir, { env: io.env });
    io.stdout.write(`${dir}: ${set.rules.length} rules in ${set.files.length} file(s) are valid\n\n`);
    io.stdout.write(`${formatTable(set.rules, [
      { header: 'RULE', value: (r) => r.name },
      { header: 'ACTION', value: (r) => r.action },
      { header: 'PRIORITY', value: (r) => r.priority },
      { header: 'FILE', value: (r) => r.file },
      { header: 'REASON', value: (r) => r.reason, max: 90 },
    ])}\n\n`);
    const params = Object.values(set.parameterInfo);
    if (params.length) {
      io.stdout.write(`${formatTable(params, [
        { header: 'PARAMETER', value: (p) => p.name },
        { header: 'VALUE', value: (p) => p.value },
        { header: 'FROM', value: (p) => p.source },
        { header: 'ENV', value: (p) => p.env ?? '-' },
        { header: 'FLAG', value: (p) => (p.flag ? `--${p.flag}` : '-') },
      ])}\n`);
    }
    for (const d of set.disabledRules ?? []) io.stdout.write(`\nrule "${d.name}" (${d.file}) is switched off by parameter ${d.param}\n`);
    for (const w of unknownFactWarnings(set.rules)) io.stderr.write(`warning: ${w.message}\n`);
    return 0;
  } catch (e) {
    io.stderr.write(`${(e as Error).message}\n`);
    return e instanceof PolicyError ? 1 : 2;
  }
}
