/**
 * The repository's documentation stands on its own: no file points at material outside the repository
 * (a sibling folder, someone's notes), and every `docs/server-semantics.md#<anchor>` a file cites is a heading
 * of that page, so renaming a heading cannot leave citations pointing nowhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';

const root = fileURLToPath(new URL('..', import.meta.url));
const SEMANTICS = 'docs/server-semantics.md';
/** The folders whose files are the project's own text: code, tests, docs, deployment and policies. */
const CHECKED = ['README.md', 'docs', 'src', 'functions', 'standin', 'test', 'infra', 'policies'];

/**
 * References a reader of the repository cannot follow. Written as escaped regexes so that this file's own
 * source does not match them.
 */
const OUTSIDE = [/\.\.\/shared\b/, /\/work\/shared\b/, /\bnotes\s§/, /\breference\snotes\b/i, /§\s?\d/];
const CITATION = /docs\/server-semantics\.md#([A-Za-z0-9_-]+)/g;

/** Tracked files, and new files not yet added (but not ignored ones), under the checked folders. */
function projectFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...CHECKED], { cwd: root, encoding: 'utf8' });
  return [...new Set(out.split('\0').filter(Boolean))].sort();
}

function read(path: string): string {
  return readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
}

/** "path:line: text" for every line of `text` that points outside the repository. */
function outsideReferences(path: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (OUTSIDE.some((re) => re.test(line))) found.push(`${path}:${i + 1}: ${line.trim()}`);
  });
  return found;
}

/** The GitHub anchors of a Markdown page's headings (code fences skipped, duplicates numbered as GitHub does). */
function headingAnchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (heading) anchors.add(slugger.slug(heading[1]!.replace(/`/g, '')));
  }
  return anchors;
}

test('the checks see what they look for', () => {
  // Arrange: one line of each kind that must be caught, and lines that must not be (escaped, so that this
  // file does not trip its own check).
  const bad = ['see ..' + '/shared/reference/x.md', '(notes \u00a75.5)', '(reference\u0020notes, 4.4)', 'Reference\u0020Notes', 'section \u00a72.1'];
  const good = ['see docs/server-semantics.md#through-mongos', 'the stand-in\'s notes on sessions', 'shared state'];
  // Act / Assess
  for (const line of bad) assert.equal(outsideReferences('x', line).length, 1, line);
  for (const line of good) assert.deepEqual(outsideReferences('x', line), [], line);
  const anchors = headingAnchors('# Page\n## Through mongos\n```\n## not a heading\n```\n### `$currentOp` documents\n## Atlas\n## Atlas\n');
  assert.deepEqual([...anchors], ['page', 'through-mongos', 'currentop-documents', 'atlas', 'atlas-1']);
});

test('no project file points outside the repository', () => {
  const files = projectFiles();
  assert.ok(files.includes('README.md') && files.includes(SEMANTICS), 'the file list includes the README and the semantics page');
  const found = files.flatMap((f) => outsideReferences(f, read(f)));
  assert.deepEqual(found, [], 'say it in the project\'s own words (docs/server-semantics.md) and cite the server file or jstest instead');
});

test(`every ${SEMANTICS}#anchor cited in the project is a heading of that page`, () => {
  // Arrange
  const anchors = headingAnchors(read(SEMANTICS));
  let citations = 0;
  const broken: string[] = [];
  // Act
  for (const f of projectFiles()) {
    for (const m of read(f).matchAll(CITATION)) {
      citations++;
      if (!anchors.has(m[1]!)) broken.push(`${f}: #${m[1]}`);
    }
  }
  // Assess
  assert.ok(citations > 0, 'the code cites the page');
  assert.deepEqual(broken, [], `cite one of: ${[...anchors].join(', ')}`);
});

test(`the links inside ${SEMANTICS} resolve`, () => {
  const page = read(SEMANTICS);
  const anchors = headingAnchors(page);
  const broken = [...page.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!).filter((a) => !anchors.has(a));
  assert.deepEqual(broken, []);
  for (const m of page.matchAll(/\]\(([^)#:]+\.md)\)/g)) {
    assert.doesNotThrow(() => read(`docs/${m[1]}`), `${m[1]} exists next to the page`);
  }
});
