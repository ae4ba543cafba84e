/**
 * Atlas webhook signatures. With a Webhook Secret configured, Atlas sends X-MMS-Signature: the
 * Base64-encoded HMAC-SHA-1 of the request body keyed with the secret ("Integrate with Webhooks",
 * MongoDB Atlas documentation). The check runs over the RAW body bytes as received (re-serialised
 * JSON would differ), and compares in constant time (crypto.timingSafeEqual), so the time taken
 * tells an attacker nothing about how much of a forged signature was right.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-mms-signature';

/** HMAC-SHA-1 digests are 20 bytes. */
const SHA1_BYTES = 20;

export function signBody(rawBody: Buffer | string, secret: string): string {
  return createHmac('sha1', secret).update(rawBody).digest('base64');
}

export type SignatureCheck = { ok: true } | { ok: false; why: 'missing' | 'malformed' | 'mismatch' };

export function verifySignature(rawBody: Buffer, header: string | undefined, secret: string): SignatureCheck {
  if (header === undefined || header.trim() === '') return { ok: false, why: 'missing' };
  const value = header.trim();
  // Strict Base64: Buffer.from(..., 'base64') ignores junk, which would let "AAAA!!!!" decode to something.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return { ok: false, why: 'malformed' };
  const given = Buffer.from(value, 'base64');
  const expected = createHmac('sha1', secret).update(rawBody).digest();
  // timingSafeEqual needs equal lengths; the length of a digest is public, so checking it first leaks nothing.
  if (given.length !== SHA1_BYTES) return { ok: false, why: 'malformed' };
  return timingSafeEqual(given, expected) ? { ok: true } : { ok: false, why: 'mismatch' };
}
