/** The file kinds `chainup schema` prints a JSON Schema for (a module of its own so the CLI can list them cheaply). */
export const SCHEMA_KINDS = ['inventory', 'playbook'] as const
export type SchemaKind = (typeof SCHEMA_KINDS)[number]
