/**
 * How a session's application and client are shown to people (CLI table, audit review, explain, HTML report):
 * an identity fact is null when no document of the session named its client (it is unknown, which is not the
 * same as a client that gave no appName), and both cases are said explicitly rather than shown as blank.
 */
export const UNKNOWN_LABEL = '(unknown)';
export const NONE_LABEL = '(none)';

/** "(unknown)" for null or undefined, "(none)" for "", else the value. */
export function identityLabel(value: string | null | undefined): string {
  if (value === null || value === undefined) return UNKNOWN_LABEL;
  return value === '' ? NONE_LABEL : value;
}

/**
 * Whether a filter value names this identity: the value itself, or its label ("(unknown)", "(none)"), so that
 * `--app "(unknown)"` finds the sessions whose application nobody reported.
 */
export function identityMatches(wanted: readonly string[], value: string | null | undefined): boolean {
  return (typeof value === 'string' && wanted.includes(value)) || wanted.includes(identityLabel(value));
}
