/** The errno code of a failed filesystem or process call (`ENOENT`, `EACCES` …), else `error`. */
export function errnoCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" ? code : "error";
}

const ERRNO_WORDS: Record<string, string> = {
  EBUSY: "busy (a mount point, or in use)",
  EPERM: "operation not permitted (an immutable file or directory?)",
  EACCES: "permission denied",
  EROFS: "read-only file system",
  ENOTEMPTY: "directory not empty",
  EIO: "input/output error",
  ENOSPC: "no space left on device",
};

/**
 * An errno failure in words, without Node's own message (which repeats raw paths):
 * `busy (a mount point, or in use) (EBUSY)`.
 */
export function errnoWords(error: unknown): string {
  const code = errnoCode(error);
  if (code === "error") return error instanceof Error ? error.message : String(error);
  return `${ERRNO_WORDS[code] ?? "failed"} (${code})`;
}
