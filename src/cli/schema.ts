import {InputError} from '../errors.js'
import {SCHEMA_KINDS, type SchemaKind, jsonSchemaFor} from '../config/json-schema.js'

/** The file kinds `chainup schema` knows. */
export const schemaKinds: readonly SchemaKind[] = SCHEMA_KINDS

/**
 * `chainup schema inventory|playbook`: the JSON Schema of that file kind as the text `schemas/<kind>.schema.json`
 * holds (two-space indent, final newline), for editors (`# yaml-language-server: $schema=…`).
 */
export function schemaCommand(kind: string): string {
  if (!(SCHEMA_KINDS as readonly string[]).includes(kind)) {
    throw new InputError(`no schema for "${kind}"`, {code: 'SCHEMA_KIND', hint: `expected one of: ${SCHEMA_KINDS.join(', ')}`})
  }
  return JSON.stringify(jsonSchemaFor(kind as SchemaKind), null, 2) + '\n'
}
