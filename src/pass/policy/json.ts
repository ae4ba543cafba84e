/**
 * JSON parsing that says where a syntax error is. V8's messages give a position for some errors
 * and not for others ("Unexpected token '}', ... is not valid JSON"), and the wording changes
 * between Node versions, so when JSON.parse fails a small scanner walks the text to find the first
 * offending character and reports its line and column.
 */

export type JsonParseResult = { ok: true; value: unknown } | { ok: false; message: string; line: number; column: number };

export function parseJsonWithPosition(text: string): JsonParseResult {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    const offset = syntaxErrorOffset(text, err as Error);
    const { line, column } = lineAndColumn(text, offset);
    const detail = (err as Error).message.replace(/ (in JSON )?at position \d+.*$/, '').replace(/, (\.\.\.)?".*" is not valid JSON$/s, '');
    return { ok: false, message: detail, line, column };
  }
}

/**
 * The scanner recurses once per nesting level; text nested deeper than the stack allows (20,000 "["
 * will do) falls back on V8's "at position N", or on the end of the text when V8 gives none (its
 * "Unexpected end of JSON input", which is where such text goes wrong).
 */
function syntaxErrorOffset(text: string, parseError: Error): number {
  try {
    return findSyntaxErrorOffset(text);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    const position = / at position (\d+)/.exec(parseError.message);
    return position ? Number(position[1]) : text.length;
  }
}

export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

class SyntaxAt extends Error {
  constructor(readonly offset: number) {
    super('syntax');
  }
}

/** Offset of the first character JSON cannot accept (the text length when the input ends early). */
export function findSyntaxErrorOffset(text: string): number {
  let i = 0;
  const fail = (at: number = i): never => {
    throw new SyntaxAt(at);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    for (let k = 0; k < word.length; k++, i++) if (text[i] !== word[k]) fail();
  };
  const string = () => {
    i++; // opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 34) { i++; return; }
      if (c < 32) fail();
      if (c === 92) {
        i++;
        const e = text[i];
        if (e === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) fail(i + k);
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail();
      } else i++;
    }
    fail();
  };
  const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  const number = () => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string(); ws();
        if (text[i] !== ':') fail();
        i++;
        value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        fail();
      }
    } else if (c === '[') {
      i++; ws();
      if (text[i] === ']') { i++; return; }
      for (;;) {
        value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        fail();
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) number();
    else fail();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return text.length;
  } catch (err) {
    if (err instanceof SyntaxAt) return err.offset;
    throw err;
  }
}
