/** Small helpers for device output quoted in messages. */

/** The line of `text` that contains offset `index`, trimmed, at most 160 characters. */
export function lineAt(text: string, index: number): string {
  const start = text.lastIndexOf('\n', index) + 1
  const end = text.indexOf('\n', index)
  return text.slice(start, end === -1 ? undefined : end).trim().slice(0, 160)
}

/** The first two lines of `text`, joined with " / ", at most 200 characters. */
export function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 2).join(' / ').slice(0, 200)
}

/** An error's message, or the thrown value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
