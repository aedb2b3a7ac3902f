/**
 * The compilers fastify builds route schemas with.
 *
 * Validation: two Ajv instances, because the parts differ:
 * - bodies are JSON with real types: no coercion, no defaults, no removal, `discriminator` on;
 * - query strings and params are text: `?version=3` must coerce to the integer 3, and defaults apply.
 * Both keep `allErrors: false` (DESIGN: `allErrors: true` lets one crafted body cost a lot of CPU).
 *
 * Serialization: response schemas describe answers (they make the OpenAPI document, see openapi.ts, and
 * a test checks real answers against them); they never reshape one. fastify's default serializer
 * (fast-json-stringify) drops every field a schema does not list and coerces types, so a schema that is
 * a little behind the code would silently change what clients get (an error's details, a state's
 * fields). Answers are therefore written by `JSON.stringify`, as they were before routes had response
 * schemas; the hot route (commands) writes its JSON text itself anyway (envelope-json.ts).
 *
 * Gotchas: a `$ref` to a shared schema (`ErrorBody#`) may appear in response schemas only: the
 * validators here are not given the shared schemas, and the serializer never reads a schema.
 */
import { Ajv } from 'ajv';
import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';

export function schemaCompiler(): FastifySchemaCompiler<unknown> {
  const common = { allErrors: false, strict: false, removeAdditional: false } as const;
  const body = new Ajv({ ...common, coerceTypes: false, useDefaults: false, discriminator: true });
  const text = new Ajv({ ...common, coerceTypes: true, useDefaults: true });
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
}

const stringify = (data: unknown): string => JSON.stringify(data);

/** Every response schema serializes with `JSON.stringify` (see the header). */
export const jsonSerializerCompiler: FastifySerializerCompiler<unknown> = () => stringify;
