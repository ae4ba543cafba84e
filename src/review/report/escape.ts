/**
 * HTML escaping for the report. Every value in the page that came from an event (user names,
 * application names and reasons are chosen by clients) goes through here, in text and attributes.
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

export const num = (n: number): string => n.toLocaleString('en-US');

/**
 * A figure the page shows and a test can read back: `data-figure` names it, `data-key` says which
 * (a user, a rule), `data-value` holds the number itself, unformatted.
 */
export function figureAttrs(figure: string, value: number, key?: string): string {
  return `data-figure="${esc(figure)}"${key !== undefined ? ` data-key="${esc(key)}"` : ''} data-value="${value}"`;
}
