/**
 * `$regex` through a linear-time engine (re2js, a JavaScript port of RE2), so that a pattern such as
 * `^(a+)+$` over a crafted string cannot block the event loop and with it every connection.
 *
 * Deliberate divergence: mongod uses PCRE (src/mongo/util/pcre.cpp), which backtracks and so also accepts
 * backreferences (`\1`), lookahead and lookbehind (`(?=`, `(?!`, `(?<=`, `(?<!`), possessive quantifiers and
 * repeat counts up to 65535. RE2 cannot express these in linear time; the stand-in refuses them with the
 * server's own error for a pattern PCRE rejects, 51091 "Regular expression is invalid: <reason>"
 * (expression_leaf.cpp RegexMatchExpression), the reason being RE2's.
 *
 * Options as the server takes them (RegexMatchExpression::kValidRegexFlags, pcre_util.cpp flagsToOptions):
 * i (caseless), m (multiline), s (dotall), x (extended: whitespace and #-comments outside classes ignored);
 * any other letter is 51108 "invalid flag in regex options: <c>". 'u' is also accepted: the server's PCRE
 * runs in UTF mode anyway.
 */
import { RE2JS } from 're2js';
import { BSONRegExp } from 'bson';
import { CommandError } from './errors.ts';

/** A compiled pattern; the pattern and options are kept to compare against stored regex values. */
export class LinearRegex {
  constructor(readonly pattern: string, readonly options: string, private readonly re: RE2JS) {}

  /**
   * RegexMatchExpression::matchesSingleElement: strings (and symbols) by search; a stored regex value
   * matches only a regex with the same pattern and options.
   */
  matches(v: unknown): boolean {
    if (typeof v === 'string') return this.re.test(v);
    if (v instanceof BSONRegExp) return v.pattern === this.pattern && v.options === this.options;
    if (v !== null && typeof v === 'object' && (v as { _bsontype?: string })._bsontype === 'BSONSymbol') {
      return this.re.test(String((v as { value: unknown }).value));
    }
    return false;
  }
}

/** PCRE's extended mode: unescaped whitespace and # comments outside character classes are dropped. */
function stripExtended(src: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\' && i + 1 < src.length) {
      out += c + src[++i];
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
    } else if (c === '#') {
      while (i + 1 < src.length && src[i + 1] !== '\n') i++;
    } else if (!/\s/.test(c)) {
      out += c;
    }
  }
  return out;
}

export function compileRegex(pattern: string, options: string): LinearRegex {
  if (pattern.includes('\0')) throw new CommandError(2, 'BadValue', 'Regular expression cannot contain an embedded null byte');
  let flags = 0;
  let source = pattern;
  for (const f of options) {
    if (f === 'i') flags |= RE2JS.CASE_INSENSITIVE;
    else if (f === 'm') flags |= RE2JS.MULTILINE;
    else if (f === 's') flags |= RE2JS.DOTALL;
    else if (f === 'x') source = stripExtended(source);
    else if (f !== 'u') throw new CommandError(51108, 'Location51108', `invalid flag in regex options: ${f}`);
  }
  try {
    return new LinearRegex(pattern, options, RE2JS.compile(source, flags));
  } catch (e) {
    const reason = (e as Error).message.replace(/^error parsing regexp: /, '');
    throw new CommandError(51091, 'Location51091', `Regular expression is invalid: ${reason} (the stand-in matches with RE2, which has no backreferences or lookaround)`);
  }
}

/**
 * expression_parser.cpp parseRegexDocument: `{$regex: <string|regex>, $options: <string>}`; options may be
 * given once, either in the regex value or in $options.
 */
export function parseRegexOperator(regex: unknown, options: unknown): LinearRegex {
  let pattern: string;
  let flags = '';
  if (typeof regex === 'string') pattern = regex;
  else if (regex instanceof BSONRegExp) {
    pattern = regex.pattern;
    flags = regex.options;
  } else throw new CommandError(2, 'BadValue', '$regex has to be a string');
  if (options !== undefined) {
    if (typeof options !== 'string') throw new CommandError(2, 'BadValue', '$options has to be a string');
    if (flags) throw new CommandError(51075, 'Location51075', 'options set in both $regex and $options');
    flags = options;
  }
  return compileRegex(pattern, flags);
}
