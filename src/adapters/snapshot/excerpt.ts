/**
 * A snapshot excerpt from a policy test case (src/pass/policy/test-file.ts) as snapshot content: the same
 * replay port and decision path as a recorded file, its documents named by their place in the test file.
 */
import type { SnapshotExcerpt } from '../../pass/policy/test-file.ts';
import { snapshotHeader, type ListingSource } from './format.ts';
import type { RecordedDocument, SnapshotContent } from './reader.ts';

/** The one member of an excerpt. */
const EXCERPT_MEMBER = 'excerpt';

export function excerptContent(excerpt: SnapshotExcerpt, where: string): SnapshotContent {
  return {
    name: where,
    header: snapshotHeader({
      takenAtMs: excerpt.timeMs,
      source: { uri: '', recordedBy: 'snapshot' },
      topology: { kind: 'standalone' },
      members: [{ name: EXCERPT_MEMBER, hello: {} }],
      reaper: excerpt.reaper,
      valuesKept: true,
    }),
    notes: [],
    async *documents(source: ListingSource): AsyncIterable<RecordedDocument[]> {
      yield excerpt[source].map((doc, i) => ({ where: `${where}, snapshot.${source}[${i}]`, text: JSON.stringify(doc) }));
    },
  };
}
