/**
 * Builds the package as `npm install` does (tsc, tsconfig.build.json) into a temp dir, so that children
 * standing for `npm start` run plain JS: worker threads then load compiled modules instead of
 * registering tsx and transpiling, which costs start-up time (restart suite) and memory (memory suite).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './child.js';

/** Returns the dist dir inside `into`, or null when the build did not produce it. */
export function buildPackage(into: string): string | null {
  const dist = join(into, 'dist');
  spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', dist], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (!existsSync(join(dist, 'src/runtime/index.js')) || !existsSync(join(dist, 'src/server/app.js'))) return null;
  // ESM like the package, named like it (the server's OpenAPI document reads name and version from it),
  // its dependencies from the repo, and the dashboard's static files (tsc copies only what it compiles;
  // the server looks for them next to dist/ or under src/).
  const { name, version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  writeFileSync(join(into, 'package.json'), JSON.stringify({ name, version, type: 'module' }));
  const dashboard = join(REPO_ROOT, 'src/server/dashboard');
  if (existsSync(dashboard)) cpSync(dashboard, join(into, 'src/server/dashboard'), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(into, 'node_modules'), 'dir');
  return dist;
}
