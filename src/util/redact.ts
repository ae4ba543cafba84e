/**
 * Credentials never appear in a log line or an error: connection strings are redacted everywhere they
 * are printed. Handles mongodb:// and mongodb+srv:// with user:password@, and password-like query options.
 */
const CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^@/\s]+)@/gi;
const SECRET_OPTIONS = /([?&](?:password|authMechanismProperties|tlsCertificateKeyFilePassword|sslPEMKeyPassword)=)[^&\s]*/gi;

export function redactUri(text: string): string {
  return text.replace(CREDENTIALS, '$1***:***@').replace(SECRET_OPTIONS, '$1***');
}
