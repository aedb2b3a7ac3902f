/**
 * Deciders are loaded from modules (not passed as objects) because functions cannot cross to a worker
 * thread: the router and every actor host import the same module specifiers, so both sides see the
 * same `decide`/`evolve` and the same command schemas.
 */
import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { AnyDecider } from '../domain/index.js';
import { PersonalFields } from './personal-data.js';

/** A module whose default export (or `decider` export) is a Decider: an absolute path or a file URL. */
export type DomainModule = string | URL;

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** The built-in aggregate types: the bank account and the video. */
export const builtinDomains: DomainModule[] = [new URL(`../domain/account${ext}`, import.meta.url), new URL(`../domain/video${ext}`, import.meta.url)];

/** The system types every runtime has, whatever `domains` lists: the audit stream (domain/audit.ts). */
export const systemDomains: readonly DomainModule[] = [new URL(`../domain/audit${ext}`, import.meta.url)];

const systemUrls = new Set(systemDomains.map((m) => toModuleUrl(m)));

export function toModuleUrl(m: DomainModule): string {
  if (m instanceof URL) return m.href;
  if (m.startsWith('file:')) return m;
  if (isAbsolute(m)) return pathToFileURL(m).href;
  throw new RuntimeError(ErrorCodes.InvalidOptions, `domain module ${JSON.stringify(m)} must be an absolute path or a file URL`);
}

export async function loadDeciders(moduleUrls: readonly string[]): Promise<Map<string, AnyDecider>> {
  const out = new Map<string, AnyDecider>();
  for (const url of moduleUrls) {
    const mod = (await import(url)) as { default?: AnyDecider; decider?: AnyDecider };
    const d = mod.default ?? mod.decider;
    if (!d || typeof d.decide !== 'function' || typeof d.evolve !== 'function' || typeof d.type !== 'string') {
      throw new RuntimeError(ErrorCodes.InvalidOptions, `${url} does not export a decider (default export with type, decide, evolve)`);
    }
    // A module written in plain JS may lack `publicCommands` (then none is public, the safe default); a
    // list that names a command the decider does not have is a typo that would hide a command: refuse it.
    const pub: unknown = (d as { publicCommands?: unknown }).publicCommands;
    if (pub !== undefined && (!Array.isArray(pub) || pub.some((c) => typeof c !== 'string' || !Object.hasOwn(d.commands, c)))) {
      throw new RuntimeError(ErrorCodes.InvalidOptions, `${url}: publicCommands must list command types of ${JSON.stringify(d.type)}`);
    }
    if (d.type.startsWith('$') && !systemUrls.has(url)) {
      throw new RuntimeError(ErrorCodes.InvalidOptions, `${url}: aggregate type ${JSON.stringify(d.type)}: names starting with $ are the runtime's own (the audit stream)`);
    }
    // A typo in `personalData` would leave personal data in plaintext: refused here, naming the module.
    try {
      PersonalFields.of([d]);
    } catch (err) {
      throw new RuntimeError(ErrorCodes.InvalidOptions, `${url}: ${(err as Error).message}`, { module: url });
    }
    if (out.has(d.type)) throw new RuntimeError(ErrorCodes.InvalidOptions, `two domain modules define aggregate type ${JSON.stringify(d.type)}`);
    out.set(d.type, d);
  }
  return out;
}
