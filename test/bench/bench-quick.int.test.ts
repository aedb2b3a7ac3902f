/**
 * `npm run bench -- --quick` still works: it exits 0 and writes a latest.json that has every figure of
 * the catalogue, each either a finite number or an explicit "not available" with its reason, plus the
 * curves and the machine description. No thresholds: the figures depend on the machine and its load.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FIGURE_IDS, type Figure } from '../../bench/figures.js';
import type { Results } from '../../bench/report.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'eventide-bench-test-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run bench -- --quick', () => {
  // Quick mode targets about a minute on an idle 2-core machine; tests run beside other suites (the
  // peers suite's four child processes and PostgreSQL start-up added 40-70 s on the loaded dev box).
  it('exits 0 and writes latest.json with every figure present and numeric (or marked not available)', { timeout: 480_000 }, () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--out', out], { cwd: root, encoding: 'utf8', timeout: 470_000 });
    expect(run.error).toBeUndefined();
    expect(run.status, `bench failed:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`).toBe(0);

    const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Results;
    const byId = new Map<string, Figure>(results.figures.map((f) => [f.id, f]));
    for (const id of FIGURE_IDS) {
      const f = byId.get(id);
      expect(f, `figure ${id} missing`).toBeDefined();
      if (f!.available) {
        expect(typeof f!.value, id).toBe('number');
        expect(Number.isFinite(f!.value), `${id} = ${f!.value}`).toBe(true);
        if (f!.baseline) expect(Number.isFinite(f!.baseline.value), `${id} baseline`).toBe(true);
      } else {
        expect(f!.value, id).toBeNull();
        expect(f!.note, `${id} must say why it is not available`).toMatch(/not available/);
      }
    }
    // The peers table: every peer ran (numbers) or says it was skipped and why; it comes first in table.md.
    expect(results.peers, 'peers table').not.toBeNull();
    expect(results.peers!.rows.length).toBe(4);
    for (const r of results.peers!.rows) {
      if (r.available) {
        for (const v of [r.commandsPerSec, r.p50Ms, r.p99Ms, r.openP50Ms, r.openP99Ms, r.cpuUsPerCommand]) expect(Number.isFinite(v), `${r.peer}: ${v}`).toBe(true);
        expect(r.note, r.peer).toMatch(/checked: events stored = commands acknowledged/);
      } else {
        expect(r.note, r.peer).toMatch(/^skipped: /);
      }
    }
    const table = readFileSync(join(out, 'table.md'), 'utf8');
    expect(table.indexOf('### Peers')).toBeGreaterThan(0);
    expect(table.indexOf('### Peers')).toBeLessThan(table.indexOf('| figure |'));
    expect(results.meta.mode).toBe('quick');
    expect(results.meta.failedSuites).toEqual([]);
    expect(results.meta.cpu.count).toBeGreaterThan(0);
    expect(results.meta.cpu.model.length).toBeGreaterThan(0);
    expect(results.meta.node).toBe(process.version);
    expect(results.meta.git.commit).toMatch(/^[0-9a-f]{40}$|^unknown$/);
  });

  it('writes every curve with numeric points, and an SVG for each', () => {
    const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Results;
    expect(results.curves.map((c) => c.id).sort()).toEqual(['hydration-vs-length', 'latency-vs-load', 'throughput-vs-aggregates', 'throughput-vs-workers']);
    for (const c of results.curves) {
      for (const s of c.series) {
        expect(s.points.length, `${c.id}/${s.name}`).toBeGreaterThan(0);
        for (const [x, y] of s.points) expect(Number.isFinite(x) && Number.isFinite(y), `${c.id}/${s.name}`).toBe(true);
      }
      expect(readFileSync(join(out, `${c.id}.svg`), 'utf8')).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
    }
  });
});
