/**
 * The folder tree is the architecture (DESIGN.md): domain <- log <- runtime <- projections, video <-
 * server, with kernel importable by all and importing nothing. `app` is the composition root for
 * embedders (`createEventide`: the runtime with the projection engine), above runtime and projections
 * and below server, whose `main.ts` composes through it. These checks read the import lines of
 * every source file, and the modules it names by URL (`new URL('../x/…', import.meta.url)`, how a
 * module is handed to a worker thread or loaded later), so a wrong-way dependency fails the suite instead
 * of waiting for a reviewer. ESLint (eslint.config.js) checks the same table on imports, from the same
 * file, layers.json; only this test sees the URLs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import layers from './layers.json' with { type: 'json' };

const src = fileURLToPath(new URL('../../src/', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));

function filesOf(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesOf(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/**
 * What `text` imports, re-exports, imports dynamically or as a type (`import('x')`), and the files it
 * names by URL relative to itself. A URL's template literal counts up to its first `${`
 * (`../domain/account${ext}` names ../domain/); one that starts with `${` names nothing we can read.
 * A URL reference is relative even without `./` (`new URL('index.html', import.meta.url)`), so it is
 * given one: only a specifier that does not start with `.` is a package.
 */
function importsOf(text: string): string[] {
  const lines = [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
  const urls = [...text.matchAll(/\bnew\s+URL\(\s*(?:'([^'\n]*)'|"([^"\n]*)"|`([^`]*)`)\s*,\s*import\.meta\.url\s*\)/g)]
    .map((m) => m[1] ?? m[2] ?? m[3]!.split('${')[0]!)
    .filter((spec) => spec !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(spec))
    .map((spec) => (spec.startsWith('.') ? spec : `./${spec}`));
  return [...lines, ...urls];
}

function importsOfFile(file: string): string[] {
  return importsOf(readFileSync(file, 'utf8'));
}

const OUTSIDE = 'outside src/';

/** The src folder a relative import of `file` lands in (OUTSIDE beyond src/; undefined for packages and node: modules). */
function folderOf(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = relative(src, join(dirname(file), spec));
  return target === '..' || target.startsWith(`..${sep}`) ? OUTSIDE : target.split(sep)[0];
}

// What each folder may import from the others (besides itself and kernel); eslint.config.js reads it too.
const allowed: Record<string, readonly string[]> = layers;

/**
 * Files of src/ that name something outside src/ by URL, on purpose: none of it is a module of src's
 * graph. Workers import src/, so src/ names their entry files only to start a thread.
 */
const leavesSrc: Record<string, string> = {
  [`runtime${sep}thread-entry.ts`]: 'the worker entry points in workers/',
  [`server${sep}routes${sep}dashboard.ts`]: "the dashboard's static files, found from the built layout (dist/src/server/routes/)",
};

/**
 * Wrong-way dependencies that exist today and are owned by other work in progress: listed so they stay
 * visible, checked so the list cannot go stale (an entry that no longer occurs fails the last test).
 * Do not add to it; remove an entry when its dependency is gone.
 */
const pending = new Set<string>([]);

function wrongWayOf(folder: string): string[] {
  const wrong: string[] = [];
  for (const file of filesOf(join(src, folder))) {
    for (const spec of importsOfFile(file)) {
      const target = folderOf(file, spec);
      if (target === undefined || target === folder) continue;
      if (target === 'kernel' && folder !== 'kernel') continue;
      if (target === OUTSIDE && relative(src, file) in leavesSrc) continue;
      if (!allowed[folder]!.includes(target)) wrong.push(`${relative(src, file)} imports ${spec}`);
    }
  }
  return wrong;
}

describe('the dependency direction of src/', () => {
  for (const folder of Object.keys(allowed)) {
    it(`${folder}/ imports only ${[...allowed[folder]!, folder === 'kernel' ? '' : 'kernel'].filter(Boolean).join(', ') || 'itself'}`, () => {
      expect(wrongWayOf(folder).filter((line) => !pending.has(line))).toEqual([]);
    });
  }

  it('has a rule for every folder of src/', () => {
    const folders = readdirSync(src).filter((name) => statSync(join(src, name)).isDirectory());
    expect(folders.filter((folder) => !(folder in allowed))).toEqual([]);
  });

  it('keeps domain/ pure: no node: modules, no packages, nothing with I/O', () => {
    const impure = filesOf(join(src, 'domain')).flatMap((file) => importsOfFile(file).filter((spec) => !spec.startsWith('.')).map((spec) => `${relative(src, file)} imports ${spec}`));
    expect(impure).toEqual([]);
  });

  it("keeps client/ standalone: no package, no node: module, the kernel's types only, no Node global", () => {
    const found = filesOf(join(src, 'client')).flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      const name = relative(src, file);
      const packages = importsOf(text).filter((spec) => !spec.startsWith('.')).map((spec) => `${name} imports ${spec}`);
      // Every import statement that reaches the kernel must be `import type` / `export type` (erased at build).
      const kernelCode = [...text.matchAll(/^\s*(import|export)(\s+type)?\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)]
        .filter((m) => m[2] === undefined && relative(src, join(dirname(file), m[3]!)).split(sep)[0] === 'kernel')
        .map((m) => `${name} imports kernel code: ${m[0].trim()}`);
      // Node-only globals would break the client in a browser.
      const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
      const nodeGlobals = [...code.matchAll(/\b(Buffer|process|require|__dirname|setImmediate)\b/g)].map((m) => `${name} uses ${m[1]}`);
      return [...packages, ...kernelCode, ...nodeGlobals];
    });
    expect(found).toEqual([]);
  });

  it('keeps kernel/ free of imports from outside itself', () => {
    const outside = filesOf(join(src, 'kernel')).flatMap((file) => importsOfFile(file).filter((spec) => !spec.startsWith('./')).map((spec) => `${relative(src, file)} imports ${spec}`));
    expect(outside).toEqual([]);
  });

  it('names workers/ only from runtime/thread-entry.ts', () => {
    const workers = join(root, 'workers');
    const naming = filesOf(src).flatMap((file) =>
      importsOfFile(file)
        .filter((spec) => spec.startsWith('.') && relative(workers, join(dirname(file), spec)).split(sep)[0] !== '..')
        .map((spec) => `${relative(src, file)} names ${spec}`),
    );
    expect(naming.filter((line) => !line.startsWith(`runtime${sep}thread-entry.ts `))).toEqual([]);
  });

  it("imports another folder only through its index.ts (each folder's surface)", () => {
    const deep = filesOf(src).flatMap((file) => {
      const own = relative(src, file).split(sep)[0];
      // Import statements only: a module named by URL is loaded by file (a worker entry, a built-in decider).
      const text = readFileSync(file, 'utf8');
      const specs = [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
      return specs
        .filter((spec) => spec.startsWith('.'))
        .filter((spec) => {
          const target = relative(src, join(dirname(file), spec)).split(sep);
          return target[0] !== own && target[0] !== '..' && !(target.length === 2 && target[1] === 'index.js');
        })
        .map((spec) => `${relative(src, file)} imports ${spec}`);
    });
    expect(deep).toEqual([]);
  });

  it('lists as pending only wrong-way dependencies that still exist', () => {
    const all = new Set(Object.keys(allowed).flatMap(wrongWayOf));
    expect([...pending].filter((line) => !all.has(line))).toEqual([]);
  });
});

describe('what counts as an import', () => {
  it('reads import, export-from, import() and import types, and files named by URL', () => {
    const text = [
      "import { a } from '../log/index.js';",
      "import type {\n  B,\n} from '../domain/index.js';",
      "export * from './local.js';",
      "const m = await import('../video/index.js');",
      "type R = import('fastify').FastifyReply;",
      "const u = new URL('../projections/worker-projector.js', import.meta.url);",
      'const t = new URL(`../domain/account${ext}`, import.meta.url);',
      'const w = new URL(`../../workers/${name}.js`, import.meta.url);',
      "const s = new URL('index.html', import.meta.url);",
      'const d = new URL(`${base}/x.js`, import.meta.url);',
      "const f = new URL('file:///etc/x', import.meta.url);",
      "const n = new URL('../server/x.js', base);",
    ].join('\n');
    expect(importsOf(text)).toEqual([
      '../log/index.js',
      '../domain/index.js',
      './local.js',
      '../video/index.js',
      'fastify',
      '../projections/worker-projector.js',
      '../domain/account',
      '../../workers/',
      './index.html',
    ]);
  });
});
