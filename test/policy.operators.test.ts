/**
 * The semantics of the custom operators (the differential test checks that the compiled evaluator
 * and json-rules-engine agree, but both use these functions, so their meaning is pinned here), the
 * json-rules-engine quirks the built-in mirrors keep, and the integrity of the table itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { operatorNamed, OPERATORS, type FactPredicate } from '../src/pass/policy/operators.ts';
import { hostOf } from '../src/pass/policy/cidr.ts';
import { REGEX_MEMO_MAX } from '../src/pass/policy/regex.ts';
import type { FactType } from '../src/pass/facts.ts';

function compiled(operator: string, value: unknown, factType: FactType = 'string'): FactPredicate {
  const spec = operatorNamed(operator);
  assert.ok(spec, `operator ${operator} is registered`);
  assert.equal(spec.valueCheck(value, factType), null, `value ${JSON.stringify(value)} is valid for ${operator}`);
  return spec.compile(value);
}

function matching(test: FactPredicate, facts: readonly unknown[]): unknown[] {
  return facts.filter((f) => test(f));
}

describe('hostInCidr / notHostInCidr', () => {
  it('matches IPv4 and IPv6 clients, with or without a port, against CIDRs, addresses and host names', () => {
    // Prepare
    const test = compiled('hostInCidr', ['10.0.0.0/8', 'fd00::/8', '192.168.1.7', 'App-1.Internal']);
    const clients = ['10.200.3.4:51234', '10.200.3.4', '11.0.0.1:27017', '[fd00::5]:27017', 'fd00::5', 'fe80::1',
      '192.168.1.7:1', '192.168.1.8', 'app-1.internal:40000', 'app-2.internal', '::ffff:10.9.9.9', '[::ffff:11.9.9.9]:1'];

    // Act
    const inside = matching(test, clients);

    // Assess
    assert.deepEqual(inside, ['10.200.3.4:51234', '10.200.3.4', '[fd00::5]:27017', 'fd00::5', '192.168.1.7:1', 'app-1.internal:40000', '::ffff:10.9.9.9']);
  });

  it('masks host bits of a CIDR and lets /0 match every address but no host name', () => {
    // Prepare
    const masked = compiled('hostInCidr', '10.1.2.3/16');
    const everything = compiled('hostInCidr', ['0.0.0.0/0', '::/0']);

    // Act
    const inMasked = matching(masked, ['10.1.200.1', '10.2.0.1']);
    const inEverything = matching(everything, ['1.2.3.4', '2001:db8::1', 'somehost']);

    // Assess
    assert.deepEqual(inMasked, ['10.1.200.1']);
    assert.deepEqual(inEverything, ['1.2.3.4', '2001:db8::1']);
  });

  it('treats an unknown client as neither inside nor outside', () => {
    // Prepare
    const inside = compiled('hostInCidr', '10.0.0.0/8');
    const outside = compiled('notHostInCidr', '10.0.0.0/8');

    // Act
    const results = [inside(''), outside(''), outside('11.0.0.1:5'), outside('10.0.0.1:5'), outside('/tmp/mongodb-27017.sock')];

    // Assess
    assert.deepEqual(results, [false, false, true, false, true]);
  });

  it('refuses malformed patterns with a message naming them', () => {
    // Prepare
    const spec = operatorNamed('hostInCidr')!;

    // Act
    const problems = ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/x', '010.0.0.1', 'bad host!', [], [5]].map((v) => spec.valueCheck(v, 'string'));

    // Assess
    assert.deepEqual(problems, [
      '"10.0.0.0/33": an IPv4 prefix length is at most 32',
      '"fd00::/129": an IPv6 prefix length is at most 128',
      '"10.0.0.0/x" has an invalid prefix length "x"',
      '"010.0.0.1" is not a valid IPv4 address (four octets 0-255, no leading zeros)',
      '"bad host!" is neither an IPv4/IPv6 address or CIDR (e.g. "10.0.0.0/8", "fd00::/8") nor a host name',
      'must be a CIDR, an address, a host name or a non-empty array of them',
      'element [0] must be a CIDR string such as "10.0.0.0/8", got number 5',
    ]);
  });

  it('takes the host out of the client address forms the server reports', () => {
    // Prepare
    const clients = ['10.1.2.3:5', '[fd00::1]:5', 'fd00::1', 'host:5', 'host', ''];

    // Act
    const hosts = clients.map(hostOf);

    // Assess
    assert.deepEqual(hosts, ['10.1.2.3', 'fd00::1', 'fd00::1', 'host', 'host', '']);
  });
});

describe('matchesRegex / notMatchesRegex', () => {
  it('takes a plain pattern (case-sensitive) or a pattern with flags', () => {
    // Prepare
    const plain = compiled('matchesRegex', '^mongo');
    const flagged = compiled('matchesRegex', { pattern: '^mongo', flags: 'i' });
    const negated = compiled('notMatchesRegex', { pattern: '^mongo', flags: 'i' });
    const names = ['mongodump', 'MongoDB Agent', 'app', ''];

    // Act
    const results = [matching(plain, names), matching(flagged, names), matching(negated, names)];

    // Assess
    assert.deepEqual(results, [['mongodump'], ['mongodump', 'MongoDB Agent'], ['app', '']]);
  });

  it('refuses stateful flags, unknown keys and invalid patterns', () => {
    // Prepare
    const spec = operatorNamed('matchesRegex')!;

    // Act
    const problems = [{ pattern: 'a', flags: 'g' }, { pattern: 'a', flag: 'i' }, '[', 42].map((v) => spec.valueCheck(v, 'string'));

    // Assess
    assert.match(problems[0]!, /flags must be a combination of i, m, s, u/);
    assert.match(problems[1]!, /remove "flag"/);
    assert.match(problems[2]!, /not a valid RE2 regular expression \(.*missing closing \].*; syntax: https:\/\/github.com\/google\/re2\/wiki\/Syntax\)/);
    assert.match(problems[3]!, /must be a regex string or/);
  });

  it('refuses backreferences and lookaround, which RE2 cannot match in linear time, saying so', () => {
    // Prepare
    const spec = operatorNamed('matchesRegex')!;
    const patterns = ['^(a)\\1$', '(?<x>a)\\k<x>', 'foo(?=bar)', 'foo(?!bar)', '(?<=a)b', '(?<!a)b'];

    // Act
    const problems = patterns.map((pattern) => spec.valueCheck(pattern, 'string'));

    // Assess
    assert.deepEqual(problems.map((p) => /uses an? (.+?), which policy regexes do not support/.exec(p ?? '')?.[1]), [
      'backreference \\1', 'named backreference \\k<...>', 'lookahead (?=...)', 'lookahead (?!...)', 'lookbehind (?<=...)', 'lookbehind (?<!...)',
    ]);
    for (const p of problems) assert.match(p!, /they run on RE2, which matches in time linear in the text/);
  });

  it('tells backreferences from escapes and character classes that only look like them', () => {
    // Prepare
    const spec = operatorNamed('matchesRegex')!;

    // Act: an escaped backslash before a digit, a digit escape inside a class, a literal "(?=" inside a class
    const problems = ['\\\\1', '[\\1]', '[(?=]', '[]\\1]'].map((pattern) => spec.valueCheck(pattern, 'string'));

    // Assess
    assert.deepEqual(problems.map((p) => p !== null && /backreference|lookahead/.test(p)), [false, false, false, false]);
  });

  it('matches in linear time: a pattern that backtracks exponentially in V8 answers at once on hostile text', () => {
    // Prepare: ^(a+)+$ against 120 a's and a "!" is 2^120 steps for a backtracking engine.
    const nested = compiled('matchesRegex', '^(a+)+$');
    const hostile = `${'a'.repeat(120)}!`;

    // Act
    const results = [nested(hostile), nested('a'.repeat(120)), nested('')];

    // Assess
    assert.deepEqual(results, [false, true, false]);
  });

  it('answers a text it has already answered the same way, also after more distinct texts than it remembers', () => {
    // Prepare: the same names asked again, then so many distinct ones that the remembered answers start afresh.
    const plain = compiled('matchesRegex', '^mongo');
    const negated = compiled('notMatchesRegex', '^mongo');
    const names = ['mongodump', 'app', 'mongodump', 'app'];
    const flood = Array.from({ length: REGEX_MEMO_MAX * 2 + 3 }, (_, i) => (i % 2 ? `mongo-${i}` : `app-${i}`));

    // Act
    const again = [matching(plain, names), matching(negated, names)];
    const flooded = flood.map((n) => plain(n));
    const after = [plain('mongodump'), plain('app'), negated('mongodump'), negated('app')];

    // Assess
    assert.deepEqual(again, [['mongodump', 'mongodump'], ['app', 'app']]);
    assert.deepEqual(flooded, flood.map((n) => n.startsWith('mongo')));
    assert.deepEqual(after, [true, false, false, true]);
  });

  it('flags i, m and s mean what they mean in JavaScript; u is accepted (RE2 always matches code points)', () => {
    // Prepare
    const cases: [unknown, string, boolean][] = [
      [{ pattern: '^backup$', flags: 'i' }, 'BACKUP', true],
      [{ pattern: '^b$', flags: 'm' }, 'a\nb\nc', true],
      [{ pattern: '^b$' }, 'a\nb\nc', false],
      [{ pattern: 'a.b', flags: 's' }, 'a\nb', true],
      [{ pattern: 'a.b' }, 'a\nb', false],
      [{ pattern: '^.$', flags: 'u' }, '\u{1F600}', true],
    ];

    // Act
    const results = cases.map(([value, text]) => compiled('matchesRegex', value)(text));

    // Assess
    assert.deepEqual(results, cases.map((c) => c[2]));
  });
});

describe('list operators', () => {
  it('inListIgnoreCase and notInListIgnoreCase compare without case', () => {
    // Prepare
    const inList = compiled('inListIgnoreCase', ['Admin', '__system']);
    const notInList = compiled('notInListIgnoreCase', ['Admin', '__system']);
    const names = ['admin', 'ADMIN', '__SYSTEM', 'app', ''];

    // Act
    const results = [matching(inList, names), matching(notInList, names)];

    // Assess
    assert.deepEqual(results, [['admin', 'ADMIN', '__SYSTEM'], ['app', '']]);
  });

  it('containsAny matches a string[] fact sharing at least one element', () => {
    // Prepare
    const test = compiled('containsAny', ['update', 'remove'], 'string[]');
    const facts = [['query'], ['query', 'remove'], [], ['UPDATE'], 'update'];

    // Act
    const inside = matching(test, facts);

    // Assess
    assert.deepEqual(inside, [['query', 'remove']]);
  });
});

describe('json-rules-engine built-in mirrors', () => {
  it('keeps the engine quirks: numeric operators refuse NaN facts, contains needs an array fact', () => {
    // Prepare
    const lessThan = compiled('lessThan', 5, 'number');
    const notEqual = compiled('notEqual', 5, 'number');
    const doesNotContain = compiled('doesNotContain', 'x', 'string[]');

    // Act
    const results = [lessThan(Number.NaN), lessThan(4), notEqual(Number.NaN), doesNotContain('abc'), doesNotContain(['y'])];

    // Assess
    assert.deepEqual(results, [false, true, true, false, true]);
  });

  it('requires an array value for in / notIn (the engine would do a substring search on a string)', () => {
    // Prepare
    const spec = operatorNamed('in')!;

    // Act
    const problems = [spec.valueCheck('mongodump', 'string'), spec.valueCheck(['a', 1], 'string'), spec.valueCheck([1, 2], 'number')];

    // Assess
    assert.deepEqual(problems, ['must be an array of strings, got string "mongodump"', 'element [1] must be a string, got number 1', null]);
  });
});

describe('the operator table', () => {
  it('gives every operator valid examples for every fact type it applies to', () => {
    // Prepare
    const invalid: string[] = [];

    // Act
    for (const op of OPERATORS) {
      for (const type of op.factTypes) {
        const examples = op.examples[type] ?? [];
        if (examples.length === 0) invalid.push(`${op.name}: no examples for ${type} facts`);
        for (const example of examples) {
          const problem = op.valueCheck(example, type);
          if (problem) invalid.push(`${op.name} ${JSON.stringify(example)}: ${problem}`);
        }
      }
    }

    // Assess
    assert.deepEqual(invalid, []);
  });

  it('has unique names', () => {
    // Prepare
    const names = OPERATORS.map((op) => op.name);

    // Act
    const unique = new Set(names);

    // Assess
    assert.equal(unique.size, names.length);
  });
});
