/**
 * Bearer tokens: who a request comes from, and what it may do.
 *
 * A token is configured with a name (used in logs and as the rate-limit key, never the token itself), its
 * scopes, and either the token or, better, only its SHA-256 (a leaked config file then leaks no token).
 * Sources: a JSON file (`TOKENS_FILE`) and/or the environment (`EVENTIDE_TOKENS`), see `parseTokensEnv`.
 *
 * Lookup hashes the presented token and compares that digest with EVERY configured digest with
 * `timingSafeEqual`, so the time taken says nothing about how much of a token matched, nor which entry did.
 *
 * Gotchas:
 * - Never log a token or put one in an error message; the name is what identifies a client.
 * - Tokens are restricted to `[A-Za-z0-9._~+-]` so one can travel as a WebSocket subprotocol (browsers
 *   cannot set headers on a WebSocket; see `feed-protocol.ts`), where `/` and `=` are not allowed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';
import { parseScope, type Scope } from './scopes.js';

export const TOKEN_PATTERN = /^[A-Za-z0-9._~+-]{16,512}$/;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** One configured token as the config file spells it. Give `sha256` (hex of the token) or `token`. */
export interface TokenConfig {
  name: string;
  token?: string;
  sha256?: string;
  scopes: string[];
}

/** The client a request was authenticated as. */
export interface Principal {
  name: string;
  scopes: readonly Scope[];
}

interface Entry extends Principal {
  digest: Buffer;
}

export function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class TokenRegistry {
  readonly #entries: Entry[];

  constructor(configs: readonly TokenConfig[]) {
    const names = new Set<string>();
    const digests = new Set<string>();
    this.#entries = configs.map((c, i) => {
      const where = `token #${i + 1}${typeof c?.name === 'string' ? ` (${JSON.stringify(c.name.slice(0, 64))})` : ''}`;
      if (typeof c !== 'object' || c === null) throw invalid(`${where} must be an object`);
      if (typeof c.name !== 'string' || !NAME_PATTERN.test(c.name)) throw invalid(`${where}: name must match ${NAME_PATTERN}`);
      if (names.has(c.name)) throw invalid(`${where}: the name is used twice`);
      names.add(c.name);
      if ((c.token === undefined) === (c.sha256 === undefined)) throw invalid(`${where}: give exactly one of "token" or "sha256"`);
      let digest: Buffer;
      if (c.token !== undefined) {
        if (typeof c.token !== 'string' || !TOKEN_PATTERN.test(c.token)) throw invalid(`${where}: a token is 16 to 512 characters of [A-Za-z0-9._~+-]`);
        digest = sha256(c.token);
      } else {
        if (typeof c.sha256 !== 'string' || !SHA256_PATTERN.test(c.sha256)) throw invalid(`${where}: sha256 must be 64 lowercase hex digits`);
        digest = Buffer.from(c.sha256, 'hex');
      }
      if (digests.has(digest.toString('hex'))) throw invalid(`${where}: the same token is configured twice`);
      digests.add(digest.toString('hex'));
      if (!Array.isArray(c.scopes) || c.scopes.length === 0) throw invalid(`${where}: scopes must be a non-empty array`);
      const scopes = c.scopes.map((s) => {
        const scope = typeof s === 'string' ? parseScope(s) : undefined;
        if (!scope) throw invalid(`${where}: unknown scope ${JSON.stringify(String(s).slice(0, 64))} (read, write, admin, read:<type>, write:<type>)`);
        return scope;
      });
      return { name: c.name, scopes, digest };
    });
  }

  /** True when at least one token is configured: then every route but the public ones needs one. */
  get enabled(): boolean {
    return this.#entries.length > 0;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The principal a token belongs to, or undefined. Constant time in the token's content. */
  verify(token: string): Principal | undefined {
    const digest = sha256(token);
    let found: Entry | undefined;
    for (const e of this.#entries) {
      // No early exit: every entry is compared, whatever matched.
      if (timingSafeEqual(digest, e.digest) && found === undefined) found = e;
    }
    return found ? { name: found.name, scopes: found.scopes } : undefined;
  }
}

/**
 * `EVENTIDE_TOKENS="name:token:scope1,scope2;name2:sha256=<hex>:read"`: entries split by `;`, fields by
 * `:`, scopes by `,`. A second field `sha256=<hex>` gives the digest instead of the token. Only the first
 * two `:` split fields, so typed scopes need no escaping: `ci:<token>:write:account,read`.
 */
export function parseTokensEnv(raw: string): TokenConfig[] {
  return raw
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const first = entry.indexOf(':');
      const second = first < 0 ? -1 : entry.indexOf(':', first + 1);
      if (first < 0 || second < 0) throw invalid(`EVENTIDE_TOKENS entry #${i + 1} must be name:token:scope1,scope2`);
      const name = entry.slice(0, first);
      const secret = entry.slice(first + 1, second);
      const scopes = entry.slice(second + 1).split(',').map((s) => s.trim()).filter(Boolean);
      return secret.startsWith('sha256=') ? { name, sha256: secret.slice(7), scopes } : { name, token: secret, scopes };
    });
}

/** Reads a tokens file: a JSON array of `TokenConfig`. */
export function readTokensFile(path: string): TokenConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw invalid(`TOKENS_FILE ${path}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw invalid(`TOKENS_FILE ${path} must hold a JSON array of { name, sha256 | token, scopes }`);
  return parsed as TokenConfig[];
}

function invalid(message: string): RuntimeError {
  return new RuntimeError(ErrorCodes.InvalidOptions, message);
}
