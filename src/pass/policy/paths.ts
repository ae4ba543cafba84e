/** How problems name places: field paths, and rules by name or position. */

/** Field paths in problem messages: ["conditions", "all", 2, "value"] -> "conditions.all[2].value". */
export function fieldPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number' || /^\d+$/.test(segment)) out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/** The rule's name when it has a usable one, else its position ("rules[3]"). */
export function ruleLabel(doc: unknown, index: number): string {
  const rules = (doc as { rules?: unknown } | null)?.rules;
  const rule = Array.isArray(rules) ? (rules[index] as { name?: unknown } | undefined) : undefined;
  return typeof rule?.name === 'string' && rule.name !== '' ? rule.name : `rules[${index}]`;
}
