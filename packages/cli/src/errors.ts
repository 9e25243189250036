/** Bad input (a flag, a file, a field): exit code 2, one clear line. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** A run that failed (training diverged, a save failed): exit code 1. */
export class FailureError extends Error {
  readonly exitCode = 1;
}

export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return 2;
  return 1;
}
