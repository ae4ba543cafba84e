/**
 * Policy regular expressions run on RE2 (the re2js package, a pure JavaScript port of RE2), not on
 * V8's backtracking RegExp: a regex is matched against client-chosen text (appName is set by any
 * client, up to 128 bytes), and with a backtracking engine a pattern such as ^(a+)+$ takes time
 * exponential in the length of the text, so one session could stall a pass past its Lambda timeout.
 * RE2 matches in time linear in the text whatever the pattern, and refuses at compile time what it
 * cannot match that way: backreferences and lookaround. Those are refused at load time (and so by
 * `policies check`) with the reason, instead of being quietly accepted.
 *
 * Syntax: RE2's (https://github.com/google/re2/wiki/Syntax). Flags: i (case-insensitive), m (^ and $
 * at line breaks), s (. matches a line break), u (accepted for compatibility; RE2 always matches
 * Unicode code points).
 */
import { RE2JS } from 're2js';

/** A compiled policy regex: `test` is true when the pattern matches anywhere in the text, as RegExp.test. */
export interface PolicyRegex {
  test(text: string): boolean;
}

/** Flags as in a RegExp literal; g and y would make matching depend on lastIndex, so they are refused. */
const FLAGS: Readonly<Record<string, number>> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL, u: 0 };
const FLAG_LETTERS = /^[imsu]*$/;

const RE2_SYNTAX = 'https://github.com/google/re2/wiki/Syntax';

/**
 * The construct RE2 refuses because it cannot be matched in linear time, if the pattern has one
 * outside a character class; only consulted to explain a compile error.
 */
export function nonLinearConstruct(pattern: string): string | null {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return `backreference \\${next}`;
      if (!inClass && next === 'k' && pattern[i + 2] === '<') return 'named backreference \\k<...>';
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
      if (pattern[i + 1] === ']') i++; // "[]...]": a leading ] is a literal
    } else if (c === '(' && pattern[i + 1] === '?') {
      const look = /^\(\?(=|!|<=|<!)/.exec(pattern.slice(i));
      if (look) return `${look[1]!.startsWith('<') ? 'lookbehind' : 'lookahead'} (?${look[1]}...)`;
    }
  }
  return null;
}

/** Compiles a pattern with RegExp-style flags; returns the regex or what is wrong with it. */
export function compilePolicyRegex(pattern: string, flags: string): PolicyRegex | string {
  if (!FLAG_LETTERS.test(flags)) {
    return `flags must be a combination of i, m, s, u (g and y make matching stateful), got ${JSON.stringify(flags)}`;
  }
  let bits = 0;
  for (const f of flags) bits |= FLAGS[f]!;
  try {
    return remembering(RE2JS.compile(pattern, bits));
  } catch (err) {
    const construct = nonLinearConstruct(pattern);
    if (construct) {
      return `uses a ${construct}, which policy regexes do not support: they run on RE2, which matches in time linear in the text ` +
        'and so has no backreferences or lookaround; rewrite the pattern without it (or split it into several conditions)';
    }
    return `is not a valid RE2 regular expression (${(err as Error).message}; syntax: ${RE2_SYNTAX})`;
  }
}

/**
 * Distinct texts a compiled regex remembers its answer for (our bound): far more than the distinct appNames of a
 * cluster (a few dozen applications and tools), while a flood of distinct names costs at most this many entries
 * per regex, about 200 KB at appName's 128 bytes.
 */
export const REGEX_MEMO_MAX = 1024;

/**
 * The regex with its answers remembered per text. A pass tests the same few appNames on every session that shows
 * one, and re2js converts the text to code points and runs its matcher each time; the answer depends only on the
 * text. Past REGEX_MEMO_MAX distinct texts the memory starts afresh.
 */
function remembering(re: RE2JS): PolicyRegex {
  const answers = new Map<string, boolean>();
  return {
    test(text: string): boolean {
      let answer = answers.get(text);
      if (answer === undefined) {
        answer = re.test(text);
        if (answers.size >= REGEX_MEMO_MAX) answers.clear();
        answers.set(text, answer);
      }
      return answer;
    },
  };
}
