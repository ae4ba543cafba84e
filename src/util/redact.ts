/**
 * Credentials never appear in a log line or an error: connection strings are redacted everywhere they
 * are printed. Two entry points:
 *
 * - redactConnectionString(value) for a value known to be a connection string, well formed or not
 *   (a usage error echoes what was given): everything before its last "@" is credentials.
 * - redactUri(text) for free text (error messages, log lines), which may hold a connection string
 *   anywhere: every `user:password@` shape is masked, with or without a proper `mongodb://` prefix
 *   ("mongodb:/", "mongodb//", none at all), and after a `//` the password may hold spaces.
 *
 * Both mask password-like query options too. Masking too much (a host list after a space-laden
 * "user:password") is the accepted cost of never masking too little. In free text a quote always
 * ends a token (JSON log lines must keep their shape), so a password holding both a space and a
 * quote is masked only by redactConnectionString: that is how every string the reaper holds as a
 * connection string is printed (configuration errors, the "cannot connect" message).
 */
const MASK = '***:***';

const SECRET_OPTIONS = /([?&](?:password|authMechanismProperties|tlsCertificateKeyFilePassword|sslPEMKeyPassword)=)[^&\s"']*/gi;

/** What ends a token in free text: a userinfo never spans one of these (nor a "/" before it). */
const TOKEN_END = /[\s"'`<>()[\]{},;]/;

/** A scheme and its slashes, however mistyped: "mongodb://", "mongodb:/", "mongodb//", "mongodb+srv://". */
const SCHEME_PREFIX = /^[a-z][a-z0-9+.-]*:?\/+/i;

function maskOptions(text: string): string {
  return text.replace(SECRET_OPTIONS, '$1***');
}

/** A value given as a connection string: the scheme (if any) is kept, everything up to the last "@" masked. */
export function redactConnectionString(value: string): string {
  const at = value.lastIndexOf('@');
  if (at === -1) return maskOptions(value);
  const prefix = SCHEME_PREFIX.exec(value)?.[0] ?? '';
  return prefix + MASK + maskOptions(value.slice(at));
}

/**
 * How far left of an "@" a userinfo is looked for (our choice): far beyond any real user:password
 * (MongoDB user names and passwords are a few dozen characters), and it bounds the work per "@", so
 * a long log line with many "user@db" names costs linear time.
 */
const MAX_USERINFO = 1024;

/** What a userinfo after a scheme's slashes never spans (spaces it may). */
const SEGMENT_END = /[\n\r"'`<>()[\]{}]/;

/**
 * Where the userinfo ending at text[at] (an "@") starts, or -1 when what precedes it is no
 * `user:password` (a bare `user@db` is not a secret). Looks no further left than `floor`.
 */
function userinfoStart(text: string, floor: number, at: number): number {
  const limit = Math.max(floor, at - MAX_USERINFO);
  // The token before the "@", back to whitespace, a quote or a "/": "reaper:SECRET@h", "mongodb:/u:p@h".
  let start = at;
  while (start > limit && text[start - 1] !== '/' && !TOKEN_END.test(text[start - 1]!)) start--;
  if (text.slice(start, at).includes(':')) return start;
  // After a scheme's slashes ("//" or ":/"), a password with spaces: "mongodb://reaper:SEC RET@h".
  let slash = at - 1;
  while (slash >= limit && text[slash] !== '/' && !SEGMENT_END.test(text[slash]!)) slash--;
  if (slash < limit || text[slash] !== '/' || (text[slash - 1] !== '/' && text[slash - 1] !== ':')) return -1;
  return text.slice(slash + 1, at).includes(':') ? slash + 1 : -1;
}

/** Free text with every connection string's credentials masked. */
export function redactUri(text: string): string {
  // Nothing to mask without an "@" (a userinfo) or an "=" (a secret option): returned as is, regex not run. The
  // logger calls this for every string of every log line (a pass's completion line carries a hundred rows), and
  // nearly none of them (ids, uids, rule names, reasons) holds either character.
  if (!text.includes('@') && !text.includes('=')) return text;
  let out = '';
  let copied = 0;
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    const start = userinfoStart(text, copied, at);
    if (start === -1) continue;
    // An unescaped "@" inside the password: the userinfo runs to the last "@" of the token.
    let end = at;
    for (let next = text.indexOf('@', end + 1); next !== -1; next = text.indexOf('@', next + 1)) {
      const between = text.slice(end + 1, next);
      if (between.includes('/') || between.includes('?') || TOKEN_END.test(between)) break;
      end = next;
    }
    out += text.slice(copied, start) + MASK;
    copied = end;
    at = end;
  }
  return maskOptions(out + text.slice(copied));
}

/**
 * The error with its message, stack and causes redacted in place, for errors that leave through a
 * channel we do not format: a Lambda init error is printed by the runtime itself (errorMessage and
 * stack), not by our logger.
 */
export function redactError<E>(error: E): E {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    e.message = redactUri(e.message);
    if (e.stack) e.stack = redactUri(e.stack);
  }
  return error;
}
