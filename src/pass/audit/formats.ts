/**
 * The `format`s of schemas/audit-event.v1.json, for ajv: scripts/generate-validators.ts registers
 * them, and the validator it generates imports them from here (ajv standalone code cannot inline a
 * format function). Hand-written because ajv-formats is not a dependency; the schema also carries the
 * same `pattern`, so consumers whose validator ignores `format` (the 2020-12 default: annotation
 * only) still check the shape.
 */

// RFC 3339 date-time, the profile of ISO 8601 that Date.prototype.toISOString() produces.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const formats = {
  // Date.parse refuses a month, day, hour, minute or offset out of range, which the pattern allows.
  'date-time': { type: 'string' as const, validate: (s: string): boolean => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)) },
};

export default formats;
