/**
 * The validators fastify compiles route schemas with. Two Ajv instances, because the parts differ:
 * - bodies are JSON with real types: no coercion, no defaults, no removal, `discriminator` on;
 * - query strings and params are text: `?version=3` must coerce to the integer 3, and defaults apply.
 * Both keep `allErrors: false` (DESIGN: `allErrors: true` lets one crafted body cost a lot of CPU).
 */
import { Ajv } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

export function schemaCompiler(): FastifySchemaCompiler<unknown> {
  const common = { allErrors: false, strict: false, removeAdditional: false } as const;
  const body = new Ajv({ ...common, coerceTypes: false, useDefaults: false, discriminator: true });
  const text = new Ajv({ ...common, coerceTypes: true, useDefaults: true });
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
}
