/**
 * Validation problems of a policy set. The loader collects every problem of every file and throws
 * them together, so an operator fixes a policy directory in one go instead of one error per run.
 */
import { PolicyError } from '../../util/errors.ts';

export interface PolicyProblem {
  /** File name relative to the policy directory (or the directory itself for set-level problems). */
  file: string;
  /** Rule name, when the problem is inside a rule ("rules[3]" when the rule has no usable name). */
  rule?: string;
  /** Dotted path of the offending field inside the file or rule, e.g. "conditions.all[2].value". */
  field?: string;
  /** What is wrong and how to fix it. */
  message: string;
}

export function formatProblem(p: PolicyProblem): string {
  const where = [p.file, p.rule ? `rule "${p.rule}"` : undefined, p.field ? `field ${p.field}` : undefined]
    .filter(Boolean)
    .join(', ');
  return `${where}: ${p.message}`;
}

/**
 * A PolicyError carrying every problem found. `file`, `rule` and `field` are those of the first
 * problem, so code that only knows PolicyError still points at something real.
 */
export class PolicySetError extends PolicyError {
  readonly problems: readonly PolicyProblem[];

  constructor(dir: string, problems: readonly PolicyProblem[]) {
    const first = problems[0];
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      `policy set ${dir} has ${count}; fix all of them and run again:\n` + problems.map((p) => `  - ${formatProblem(p)}`).join('\n'),
      first?.file ?? dir,
      first?.rule,
      first?.field,
    );
    this.problems = problems;
  }
}
