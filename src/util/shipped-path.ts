/**
 * Where a shipped folder or file (`policies/`, `infra/mongodb-role.json`) is, for code that runs both from the sources and from a
 * Lambda bundle: the first ancestor of this module's directory that holds it. From the sources that is the
 * repository root (src/util/ → src/ → root, or dist/cli/ → dist/ → root for the built CLI); in a bundle, where every module is inlined into
 * functions/<name>.mjs, it is the package root that serverless.yml's `patterns` copy the folder into.
 * Walking up keeps the answer right when a module moves or is bundled.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function shippedPath(name: string, from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    // Not found anywhere above: answer the root-level path, so the error that follows names it.
    if (parent === dir) return join(dirname(dirname(fileURLToPath(from))), name);
    dir = parent;
  }
}
