/**
 * ESLint keeps the architecture here, not the style: which folder of src/ may import which (DESIGN.md's
 * dependency direction, `domain` <- `log` <- `runtime` <- `projections`, `video` <- `server`, `kernel`
 * under all of them), and which package may be imported where ("nothing outside an adapter imports its
 * client library"). No recommended rule set is on; add a style rule only for a reason.
 *
 * The folder table is test/architecture/layers.json, shared with test/architecture, which also sees
 * what a lint rule cannot: `new URL('../x/…', import.meta.url)` module references.
 *
 * Gotchas:
 * - no-restricted-imports matches the import *specifier*, not the resolved path, so the rules are made
 *   per folder and per depth: from src/log/x.ts `../runtime/` leaves the folder, from
 *   src/log/maintenance/x.ts it takes `../../runtime/`. The depths come from the tree at load time.
 * - When two config objects set the same rule for a file, the later one's options replace the earlier
 *   one's (they do not merge). So each file gets one complete option set, from `restrictionsFor`, and the
 *   deeper zones (src/log/lmdb/) come after the folders that contain them.
 * - The typescript-eslint version of the rule is used, so `import type` and `import x = require()` count;
 *   `import('x')` and `import('x').T` are not seen by it and are caught by no-restricted-syntax instead.

 */
import { readdirSync } from 'node:fs';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import layers from './test/architecture/layers.json' with { type: 'json' };

/**
 * Client libraries that belong to one place, and the folders (prefixes, relative to the project root)
 * allowed to import each. Everything linted outside them (src/, workers/, scripts/, examples/) may not.
 */
const packageHomes = {
  // The embedded log adapter's client library (DESIGN: "Nothing outside an adapter imports its client library").
  lmdb: ['src/log/lmdb/'],
  // The log's record encoding, and the command/reply batches that cross the thread boundary (runtime/wire.ts).
  msgpackr: ['src/log/', 'src/runtime/'],
  // NATS (cluster mode): the JetStream log adapter, the partition leases of src/cluster/, and the video
  // files' object-store adapter.
  '@nats-io': ['src/log/jetstream/', 'src/cluster/', 'src/video/jetstream/'],
};

/**
 * Folders whose files may import no package and no node: module at all (DESIGN: domain is pure; kernel
 * imports nothing; the client ships alone, with no dependency, and runs in browsers).
 */
const packageFree = new Set(['domain', 'kernel', 'client']);

/** Folders that may import the kernel's types only, never its code (the client ships without the server's code). */
const kernelTypesOnly = new Set(['client']);

/** How many folders deep src/ goes (src/log/x.ts: 1), read from the tree so no new subfolder goes unchecked. */
const srcDepth = Math.max(...readdirSync(new URL('./src/', import.meta.url), { recursive: true }).map((path) => String(path).split('/').length - 1));

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * The restricted-import patterns for files `depth` folders below src/ (src/log/x.ts: 1) in the src
 * folder `folder` (undefined outside src/), whose own folder starts with `dir` (for the package homes).
 */
function restrictionsFor(folder, depth, dir) {
  const patterns = [];
  if (folder !== undefined) {
    const reachable = [folder, ...(folder === 'kernel' ? [] : ['kernel']), ...layers[folder]];
    patterns.push({
      regex: `^(?:\\.\\./){${depth}}(?!(?:${reachable.map(escape).join('|')})(?:/|$))`,
      message: `src/${folder}/ may import only from ${reachable.join(', ')} (DESIGN.md's dependency direction; the table is test/architecture/layers.json).`,
    });
    if (packageFree.has(folder)) {
      const why = { domain: 'domain code is pure, no I/O', kernel: 'the kernel imports nothing', client: 'the client has no dependencies and runs in browsers' }[folder];
      patterns.push({
        regex: '^(?!\\.{1,2}/)',
        message: `src/${folder}/ imports no package and no node: module (DESIGN.md: ${why}).`,
      });
    }
    if (kernelTypesOnly.has(folder)) {
      patterns.push({
        regex: `^(?:\\.\\./){${depth}}kernel(?:/|$)`,
        allowTypeImports: true,
        message: `src/${folder}/ may import the kernel's types only (\`import type\`): it ships without the server's code.`,
      });
    }
  }
  for (const [name, homes] of Object.entries(packageHomes)) {
    if (homes.some((home) => dir.startsWith(home))) continue;
    patterns.push({
      regex: `^${escape(name)}(?:/|$)`,
      message: `'${name}' may be imported only under ${homes.join(', ')}: go through the port there (DESIGN.md: nothing outside an adapter imports its client library).`,
    });
  }
  return patterns;
}

/** The same patterns for `import('x')` and `import('x').T`, which no-restricted-imports does not see. */
function syntaxFor(patterns) {
  return patterns.map(({ regex, message }) => ({
    selector: `:matches(ImportExpression, TSImportType) > Literal.source[value=/${regex.replace(/\//g, '\\/')}/]`,
    message,
  }));
}

function zone(files, patterns) {
  return {
    files,
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns }],
      'no-restricted-syntax': ['error', ...syntaxFor(patterns)],
    },
  };
}

/** One config object per src folder (or package home below one) and depth: see the Gotchas above. */
function srcZones() {
  const dirs = [
    ...Object.keys(layers).map((folder) => `src/${folder}/`),
    ...Object.values(packageHomes).flat().filter((home) => home.startsWith('src/') && home.split('/').length > 3),
  ];
  const unique = [...new Set(dirs)].sort((a, b) => a.split('/').length - b.split('/').length);
  return unique.flatMap((dir) => {
    const folder = dir.split('/')[1];
    const below = dir.split('/').length - 2; // src/log/ -> 1, src/log/lmdb/ -> 2
    return Array.from({ length: Math.max(srcDepth - below + 1, 1) }, (_, extra) =>
      zone([`${dir}${'*/'.repeat(extra)}*.{ts,mts,js,mjs}`], restrictionsFor(folder, below + extra, dir + 'x/'.repeat(extra))),
    );
  });
}

export default defineConfig(
  { ignores: ['src/server/dashboard/**'] }, // the dashboard page's browser scripts, served as static files
  {
    files: ['**/*.{ts,mts,js,mjs}'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 'latest', sourceType: 'module' },
    // Registered so the `@typescript-eslint/…` rules named in eslint-disable comments are known.
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The code already opts out of it in the two places that need `any` (domain/types.ts,
      // projections/types.ts); on, so those comments mean something and no new `any` slips in.
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  // The public entry points at the top of src/ and everything outside src/: only the package homes.
  zone(['src/*', 'workers/**', 'scripts/**', 'examples/**'], restrictionsFor(undefined, 0, '')),
  ...srcZones(),
);
