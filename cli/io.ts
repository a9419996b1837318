/** What a fustorctl command reads from and writes to; the program passes process streams, tests pass buffers. */
export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Read when `config set` is given no file (or `-`). */
  stdin?: AsyncIterable<Buffer | string>;
  /** Ends a long-running command (`watch`, `command --wait`) as Ctrl-C does. */
  signal?: AbortSignal;
}

/** Reads all of stdin as UTF-8 text. */
export async function readAll(input: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
