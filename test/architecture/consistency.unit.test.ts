/**
 * One way to do a thing (STYLE.md, issue 12): time is read through the kernel's `Clock`, errors are
 * catalogue errors (`RuntimeError` with a code), checked with `RuntimeError.is`, `CorruptRecord` is built
 * by `corruptRecord()` only, and positions are parsed by the kernel's `parsePosition` only.
 *
 * `PENDING` lists the files still owed a fix (being rewritten elsewhere when this test was written): a
 * file there may keep the pattern, and must still have it, so the list only ever shrinks. Fix the file,
 * then delete its line. `src/log/` is being moved and is exempt until then (the lines at `log/`).
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

/** Source text without comments, so a comment that names the pattern does not count. */
function codeOf(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

const files = filesOf(src).map((path) => ({ name: relative(src, path), code: codeOf(path) }));

interface Rule {
  what: string;
  pattern: RegExp;
  /** Where the pattern belongs for good. */
  home?: readonly string[];
  /** Files still owed a fix (see the header). */
  pending: readonly string[];
  /** `src/log/` is exempt (being moved; see the header). */
  exemptLog?: boolean;
}

const rules: Rule[] = [
  {
    what: 'reads the wall clock (Date.now(), new Date()) instead of a Clock',
    pattern: /\bDate\.now\(\)|\bnew Date\(\)/,
    home: ['kernel/clock.ts'],
    pending: [],
    exemptLog: true,
  },
  {
    what: 'throws a plain Error instead of a catalogue RuntimeError',
    pattern: /\bnew (?:Range|Type|Syntax|Reference)?Error\(/,
    pending: [],
    exemptLog: true,
  },
  {
    what: 'checks errors with instanceof RuntimeError instead of RuntimeError.is',
    pattern: /\binstanceof (?:RuntimeError|DomainError)\b/,
    pending: [],
    exemptLog: true,
  },
  {
    what: 'builds CorruptRecord itself instead of calling corruptRecord()',
    pattern: /new RuntimeError\(\s*ErrorCodes\.CorruptRecord\b/,
    home: ['log/record-codec.ts', 'log/lmdb/record-codec.ts'],
    pending: [],
  },
  {
    what: 'defines its own position parser instead of the kernel\'s parsePosition',
    pattern: /function parsePosition\b/,
    home: ['kernel/position.ts'],
    pending: [],
  },
];

describe('one way to do a thing, in src/', () => {
  for (const rule of rules) {
    it(`no file ${rule.what}`, () => {
      const offenders = files
        .filter((f) => rule.pattern.test(f.code))
        .map((f) => f.name)
        .filter((name) => !rule.home?.includes(name) && !rule.pending.includes(name) && !(rule.exemptLog === true && name.startsWith('log/')));
      expect(offenders).toEqual([]);
    });

    if (rule.pending.length > 0) {
      it(`still owes the fix in each pending file (${rule.what}): delete a line once fixed`, () => {
        const fixed = rule.pending.filter((name) => !files.some((f) => f.name === name && rule.pattern.test(f.code)));
        expect(fixed).toEqual([]);
      });
    }
  }
});
