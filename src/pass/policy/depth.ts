/**
 * The nesting limit of condition trees, checked before anything else looks at a rule. The schema
 * validator, the rule checks, the compiler and json-rules-engine all walk a condition tree
 * recursively; a tree nested some thousand levels deep (1,500 `not`s will do) overflows the stack in
 * the first of them, and the set failed with a bare "Maximum call stack size exceeded" naming no
 * file or rule. This walk is iterative, so it measures any depth and names the rule.
 */
import { ruleLabel } from './paths.ts';
import type { PolicyProblem } from './problems.ts';

/**
 * Deepest condition tree accepted, counting the root group as level 1 and a leaf as a level too. Our choice: a readable policy nests
 * a handful of levels (the shipped rules use 2 or 3); 32 is far beyond that, and far inside what
 * the recursive walkers manage on Node's default stack (about 10,000 frames: each level costs every
 * walker a few frames, json-rules-engine somewhat more).
 */
export const MAX_CONDITION_DEPTH = 32;

/** Depth of a condition tree (a leaf or anything that is not a group counts 1). Iterative. */
export function conditionDepth(root: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > deepest) deepest = depth;
    if (node === null || typeof node !== 'object' || Array.isArray(node)) continue;
    const n = node as Record<string, unknown>;
    for (const group of ['all', 'any'] as const) {
      const children = n[group];
      if (Array.isArray(children)) for (const child of children) stack.push([child, depth + 1]);
    }
    if (Object.prototype.hasOwnProperty.call(n, 'not')) stack.push([n.not, depth + 1]);
  }
  return deepest;
}

/** One problem per rule of the file whose conditions nest deeper than MAX_CONDITION_DEPTH. */
export function conditionDepthProblems(file: string, doc: unknown): PolicyProblem[] {
  const rules = (doc as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules)) return [];
  const problems: PolicyProblem[] = [];
  rules.forEach((rule: unknown, index) => {
    if (rule === null || typeof rule !== 'object') return;
    const depth = conditionDepth((rule as { conditions?: unknown }).conditions);
    if (depth > MAX_CONDITION_DEPTH) {
      problems.push({
        file, rule: ruleLabel(doc, index), field: 'conditions',
        message: `conditions are nested ${depth} levels deep, more than the limit of ${MAX_CONDITION_DEPTH}; flatten the tree (a "not" of a "not" cancels out, an "all" inside an "all" can be merged into it)`,
      });
    }
  });
  return problems;
}
