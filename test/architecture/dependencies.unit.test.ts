/**
 * The folder tree is the architecture (DESIGN.md): domain <- log <- runtime <- projections, video <-
 * server, with kernel importable by all and importing nothing. `app` is the composition root for
 * embedders (`createEventide`: the runtime with the projection engine), above runtime and projections
 * and below server, whose `main.ts` composes through it. These checks read the import lines of
 * every source file, so a wrong-way import fails the suite instead of waiting for a reviewer.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../../src/', import.meta.url));

function filesOf(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesOf(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
}

/** The src folder a relative import of `file` lands in (undefined for packages and node: modules). */
function folderOf(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = relative(src, join(file, '..', spec));
  return target.split('/')[0];
}

// What each folder may import from the others (besides itself and kernel).
const allowed: Record<string, string[]> = {
  kernel: [],
  domain: [],
  partition: [],
  log: [],
  runtime: ['domain', 'log', 'partition'],
  projections: ['domain', 'log', 'partition', 'runtime'],
  video: ['domain', 'log', 'partition', 'runtime'],
  app: ['domain', 'log', 'partition', 'runtime', 'projections'],
  server: ['domain', 'log', 'partition', 'runtime', 'projections', 'video', 'app'],
};

describe('the dependency direction of src/', () => {
  for (const folder of Object.keys(allowed)) {
    it(`${folder}/ imports only ${[...allowed[folder]!, folder === 'kernel' ? '' : 'kernel'].filter(Boolean).join(', ') || 'itself'}`, () => {
      const wrong: string[] = [];
      for (const file of filesOf(join(src, folder))) {
        for (const spec of importsOf(file)) {
          const target = folderOf(file, spec);
          if (target === undefined || target === folder) continue;
          if (target === 'kernel' && folder !== 'kernel') continue;
          if (!allowed[folder]!.includes(target)) wrong.push(`${relative(src, file)} imports ${spec}`);
        }
      }
      expect(wrong).toEqual([]);
    });
  }

  it('keeps domain/ pure: no node: modules, no packages, nothing with I/O', () => {
    const impure = filesOf(join(src, 'domain')).flatMap((file) => importsOf(file).filter((spec) => !spec.startsWith('.')).map((spec) => `${relative(src, file)} imports ${spec}`));
    expect(impure).toEqual([]);
  });

  it('keeps kernel/ free of imports from outside itself', () => {
    const outside = filesOf(join(src, 'kernel')).flatMap((file) => importsOf(file).filter((spec) => !spec.startsWith('./')).map((spec) => `${relative(src, file)} imports ${spec}`));
    expect(outside).toEqual([]);
  });
});
