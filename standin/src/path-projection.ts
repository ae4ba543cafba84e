/**
 * The two projections the reaper sends with every $currentOp ($project of plain field paths, each 1, then
 * $unset of plain field paths), applied straight to the BSON documents. The general path (mingo, mql-stages.ts)
 * converts every document into the engine's values and back, including whole command bodies: most of the
 * stand-in's time in a pass. Anything else (expressions, exclusions, _id: 0, paths that collide, "$" names)
 * goes to mingo, whose answers this module is held to by standin/test/path-projection.test.ts.
 *
 * Semantics, as the server's inclusion projection (src/mongo/db/exec/projection_node.cpp, inclusion_node.cpp)
 * and $unset (an exclusion projection, document_source_project.cpp):
 *  - an included path copies the value at its end whatever its type; _id is included unless named;
 *  - fields keep the input document's order;
 *  - a path through an array applies to each element: documents are projected, nested arrays recursed into,
 *    other values dropped (inclusion) or kept (exclusion);
 *  - a path through a scalar: the field is left out (inclusion) or kept as is (exclusion);
 *  - a document with none of the included sub-paths becomes {}.
 */
import type { Document } from 'bson';
import { isPlainDocument, setField } from './engine-values.ts';

/** A path tree: a name maps to null (the path ends here) or to the tree of the paths below it. */
type PathTree = Map<string, PathTree | null>;

/** A tree of plain paths, or null when the paths need the general engine (a "$" or empty part, a collision). */
function pathTree(paths: string[]): PathTree | null {
  const root: PathTree = new Map();
  for (const path of paths) {
    const parts = path.split('.');
    if (parts.some((p) => p === '' || p.startsWith('$'))) return null;
    let node = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const last = i === parts.length - 1;
      if (!node.has(part)) {
        if (last) node.set(part, null);
        else node.set(part, new Map());
      } else if (last || node.get(part) === null) {
        return null; // "a" and "a.b", or the same path twice: the engine raises the server's path-collision error
      }
      if (!last) node = node.get(part)!;
    }
  }
  return root;
}

function includeIn(doc: Document, tree: PathTree, keepId: boolean): Document {
  const out: Document = {};
  for (const key of Object.keys(doc)) {
    const sub = tree.get(key);
    if (sub === undefined) {
      if (keepId && key === '_id') setField(out, key, doc[key]);
      continue;
    }
    if (sub === null) {
      setField(out, key, doc[key]);
      continue;
    }
    const v = includeValue(doc[key], sub);
    if (v !== undefined) setField(out, key, v);
  }
  return out;
}

function includeValue(v: unknown, tree: PathTree): unknown {
  if (isPlainDocument(v)) return includeIn(v, tree, false);
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const e of v) {
      const p = includeValue(e, tree);
      if (p !== undefined) out.push(p);
    }
    return out;
  }
  return undefined;
}

function excludeFrom(doc: Document, tree: PathTree): Document {
  const out: Document = {};
  for (const key of Object.keys(doc)) {
    const sub = tree.get(key);
    if (sub === undefined) setField(out, key, doc[key]);
    else if (sub !== null) setField(out, key, excludeValue(doc[key], sub));
  }
  return out;
}

function excludeValue(v: unknown, tree: PathTree): unknown {
  if (isPlainDocument(v)) return excludeFrom(v, tree);
  if (Array.isArray(v)) return v.map((e) => excludeValue(e, tree));
  return v;
}

/** The document transform for a `$project` spec of plain paths each 1 (or true); null when the engine is needed. */
export function plainInclusion(spec: unknown): ((doc: Document) => Document) | null {
  if (!isPlainDocument(spec)) return null;
  const paths = Object.keys(spec);
  if (paths.length === 0 || !paths.every((p) => spec[p] === 1 || spec[p] === true)) return null;
  const tree = pathTree(paths);
  if (!tree) return null;
  const keepId = !tree.has('_id');
  return (doc) => includeIn(doc, tree, keepId);
}

/** The document transform for an `$unset` of plain paths (a string or an array of strings); null otherwise. */
export function plainUnset(spec: unknown): ((doc: Document) => Document) | null {
  const paths = typeof spec === 'string' ? [spec] : Array.isArray(spec) && spec.length > 0 && spec.every((p) => typeof p === 'string') ? (spec as string[]) : null;
  if (!paths) return null;
  const tree = pathTree(paths);
  return tree ? (doc) => excludeFrom(doc, tree) : null;
}
