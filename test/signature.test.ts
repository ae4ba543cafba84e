/**
 * X-MMS-Signature: Base64 HMAC-SHA-1 of the raw body with the shared secret, checked in constant time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { signBody, verifySignature } from '../src/service/signature.ts';

const SECRET = 'test-webhook-secret';
const event = JSON.parse(readFileSync(new URL('./events/function-url-atlas-alert.json', import.meta.url), 'utf8'));
const raw = Buffer.from(event.body, 'utf8');

test('the fixture\'s signature is the HMAC-SHA-1 of its body with the test secret (the fixture cannot drift)', () => {
  const expected = createHmac('sha1', SECRET).update(event.body).digest('base64');
  assert.equal(event.headers['x-mms-signature'], expected);
  assert.equal(signBody(raw, SECRET), expected);
});

test('a good signature verifies', () => {
  assert.deepEqual(verifySignature(raw, event.headers['x-mms-signature'], SECRET), { ok: true });
});

test('missing, malformed and wrong signatures are told apart, and all fail', () => {
  assert.deepEqual(verifySignature(raw, undefined, SECRET), { ok: false, why: 'missing' });
  assert.deepEqual(verifySignature(raw, '  ', SECRET), { ok: false, why: 'missing' });
  assert.deepEqual(verifySignature(raw, 'not base64!', SECRET), { ok: false, why: 'malformed' });
  assert.deepEqual(verifySignature(raw, Buffer.alloc(32).toString('base64'), SECRET), { ok: false, why: 'malformed' }, 'a SHA-256 sized value');
  assert.deepEqual(verifySignature(raw, signBody(raw, 'another-secret'), SECRET), { ok: false, why: 'mismatch' });
});

test('the check is over the raw bytes: the same JSON re-serialised does not verify', () => {
  // Prepare: what a handler that parsed and re-stringified the body would check.
  const reserialised = Buffer.from(JSON.stringify(JSON.parse(event.body)));
  assert.notDeepEqual(reserialised, raw);
  // Act + Assess
  assert.deepEqual(verifySignature(reserialised, event.headers['x-mms-signature'], SECRET), { ok: false, why: 'mismatch' });
  const tampered = Buffer.from(event.body.replace('"OPEN"', '"OPEN" '));
  assert.deepEqual(verifySignature(tampered, event.headers['x-mms-signature'], SECRET), { ok: false, why: 'mismatch' });
});
