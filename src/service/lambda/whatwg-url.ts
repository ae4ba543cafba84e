/**
 * Bundle alias for the `whatwg-url` package (see serverless.yml custom.esbuild.alias). The MongoDB driver's
 * connection-string parser (mongodb-connection-string-url) uses it for a WHATWG URL class; Node's own
 * global URL is that same standard, and using it keeps 280 KB of Unicode tables (tr46) out of the bundle,
 * which is most of what separates the reaper bundle from the 1 MB cold-start budget.
 */
export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;
