/**
 * A failure `fustorctl` reports and exits on. `exitCode` 2 is a usage error
 * (wrong arguments), 1 everything else (API error, network, bad file).
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
    /** The API's error code, when the error came from Fusion. */
    readonly code?: string,
    /** Extra lines shown under the message (e.g. one per validation issue). */
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(message, 2, 'usage');
