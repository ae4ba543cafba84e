/**
 * $currentOp documents as mongod writes them, for the tests that read them (facts.derivation, activity-reader):
 * one session's lsid and an idle cursor, at a fixed NOW.
 */
import { Binary, Long, UUID } from 'mongodb';

export const NOW = Date.parse('2026-11-30T12:00:00Z');
export const ID = '11111111-1111-4111-8111-111111111111';
export const UID = 'a'.repeat(64);
export const META = { application: { name: 'orders-api' }, driver: { name: 'nodejs', version: '6.9.0' }, os: { type: 'Linux' } };

export const lsid = (extra: Record<string, unknown> = {}) => ({ id: new UUID(ID), uid: new Binary(Buffer.from(UID, 'hex'), 0), ...extra });

/** An idle cursor as $currentOp reports it: no appName, no client (jstests/core/currentop_cursors.js). */
export function idleCursor(cursor: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'idleCursor', host: 'db1:27017', ns: 'shop.events', lsid: lsid(), planSummary: 'COLLSCAN',
    cursor: {
      cursorId: Long.fromNumber(99), createdDate: new Date(NOW - 1000_000), lastAccessDate: new Date(NOW - 900_000),
      nDocsReturned: Long.fromNumber(2), nBatchesReturned: Long.fromNumber(1), noCursorTimeout: false, tailable: false, awaitData: false,
      originatingCommand: { find: 'events', batchSize: 2, $db: 'shop' }, ...cursor,
    },
    ...top,
  };
}
