/**
 * Text for the operator's terminal. User and application names come from clients (appName is set
 * by any client, up to 128 bytes), and a crafted name must not drive the terminal that prints it:
 * an escape sequence could clear or rewrite the screen, a bidirectional override show a name
 * reversed. Every place that prints client-chosen strings goes through this module: plain text
 * through `printable`, JSON text through `printableJson`.
 */

/**
 * What a terminal interprets: C0 controls and DEL; C1 controls (U+0080-U+009F, of which U+009B is
 * CSI, the escape sequence introducer, to terminals that take 8-bit controls); bidirectional
 * embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069: Unicode Standard Annex #9).
 */
const INTERPRETED = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** What JSON.stringify leaves raw among those (it escapes U+0000-U+001F itself). */
const RAW_IN_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * One value on one line, nothing interpreted: line breaks and tabs become spaces, every other
 * interpreted character "?". For text output; JSON goes through printableJson, CSV is data.
 */
export function printable(text: string): string {
  return text.replace(/[\t\n\r]/g, ' ').replace(INTERPRETED, '?');
}

/**
 * JSON text (JSON.stringify's output) with the characters JSON.stringify leaves raw written as \u
 * escapes: the same JSON value, parsed back unchanged, but nothing left for a terminal to interpret.
 */
export function printableJson(json: string): string {
  return json.replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
