/**
 * Client-chosen strings (appName, user) never reach the operator's terminal raw: the one formatter
 * (src/util/terminal.ts), the table formatter built on it, the JSON lines the stdout sink and the
 * demo print, and `session-reaper run` itself (a separate process) on a session whose client set a
 * hostile appName.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { printable, printableJson } from '../src/util/terminal.ts';
import { formatTable } from '../src/util/table.ts';
import { toJsonLines } from '../src/pass/audit/events.ts';
import { runCli } from './support/cli.ts';

/** ESC (clear screen), BEL, C1 CSI (colour), a right-to-left override: 26 bytes, under appName's 128. */
const HOSTILE = 'evil\u001b[2J\u0007\u009b31m\u202eppa';
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('printable / printableJson', () => {
  it('printable: one line, every interpreted character shown as "?"', () => {
    assert.equal(printable(HOSTILE), 'evil?[2J??31m?ppa');
    assert.equal(printable('a\tb\nc\r\nd'), 'a b c  d');
    assert.equal(printable('orders-api é 漢字'), 'orders-api é 漢字');
  });

  it('printableJson: what JSON.stringify leaves raw becomes \\u escapes; the value parses back unchanged', () => {
    const json = printableJson(JSON.stringify({ appName: HOSTILE, bidi: '\u2066x\u2069', del: '\u007f' }));
    assert.doesNotMatch(json, RAW_CONTROL);
    assert.deepEqual(JSON.parse(json), { appName: HOSTILE, bidi: '\u2066x\u2069', del: '\u007f' });
  });

  it('formatTable escapes every cell', () => {
    const table = formatTable([{ app: HOSTILE, n: 1 }], [{ header: 'APP', value: (r) => r.app }, { header: 'N', value: (r) => r.n }]);
    assert.doesNotMatch(table, RAW_CONTROL);
    assert.match(table, /^evil\?\[2J\?\?31m\?ppa {2}1$/m);
  });

  it('the JSON lines of the stdout sink and the demo carry the name escaped, the same value', () => {
    const at = '2024-05-01T00:00:00.000Z';
    const lines = toJsonLines([{ source: 'test', detailType: 'Session Killed', time: new Date(at), detail: { appName: HOSTILE } } as never]);
    assert.doesNotMatch(lines, RAW_CONTROL);
    assert.equal(JSON.parse(lines).detail.appName, HOSTILE);
  });
});

describe('session-reaper run with a hostile appName', () => {
  let standin: RunningStandin;
  let client: MongoClient;
  let dir: string;
  before(async () => {
    standin = await startStandin();
    // Prepare: an idle transaction ($currentOp lists it with the client's appName) and a rule killing it (a dry run: planned, audited).
    client = new MongoClient(standin.uri, { appName: HOSTILE });
    await client.connect();
    dir = mkdtempSync(join(tmpdir(), 'policy-'));
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ version: 1, rules: [{ name: 'evil-app', conditions: { all: [{ fact: 'appName', operator: 'matchesRegex', value: '^evil' }] }, event: { type: 'kill', params: { reason: 'hostile name' } } }] }));
  });
  after(async () => {
    await client?.close();
    await standin?.stop();
  });

  const run = (args: string[]) => runCli(['run', '--uri', standin.uri, '--policies', dir, '--dry-run', '--max-kill-share', '1', ...args]);

  it('the table and the stdout audit lines show it escaped; --json keeps the value', async () => {
    const session = client.startSession();
    session.startTransaction();
    await client.db('shop').collection('orders').insertOne({ a: 1 }, { session });
    try {
      // Act
      const table = await run(['--audit', 'stdout']);
      const json = await run(['--json', '--audit', `file:${join(dir, 'audit.jsonl')}`]);
      // Assess
      assert.equal(table.code, 0, table.stderr);
      assert.doesNotMatch(table.stdout + table.stderr, RAW_CONTROL);
      assert.match(table.stdout, /^planned\s+evil-app\s+\S+\s+evil\?\[2J\?\?31m\?ppa\s/m);
      assert.match(table.stdout, /"appName":"evil\\u001b\[2J\\u0007\\u009b31m\\u202eppa"/, 'the audit line, JSON-escaped');
      assert.equal(json.code, 0, json.stderr);
      assert.doesNotMatch(json.stdout, RAW_CONTROL);
      assert.deepEqual(JSON.parse(json.stdout).decisions.map((d: { appName: string }) => d.appName), [HOSTILE]);
    } finally {
      await session.abortTransaction();
      await session.endSession();
    }
  });
});
