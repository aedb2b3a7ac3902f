#!/usr/bin/env node
/**
 * npm's `prepare` step: builds dist/ (what `npm start` and the package's importers run) when TypeScript is
 * installed, that is, in a development install. A production install (`npm ci --omit=dev`) has no
 * TypeScript: building is impossible there, so this step says what to do instead of failing the install
 * (`tsc: not found` used to stop it). The packed package (`npm pack`) ships dist/ already built.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  tsc = undefined;
}
if (tsc) {
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
if (!existsSync(new URL('../dist/src/server/main.js', import.meta.url))) {
  console.warn(
    'eventide: dev dependencies are not installed, so dist/ was not built and `npm start` cannot run yet.\n' +
      '  In a clone: run `npm ci` (with dev dependencies) once to build. For a production install, install the\n' +
      '  packed package instead (`npm pack`, then `npm install --omit=dev eventide-<version>.tgz`): it ships dist/.',
  );
}
