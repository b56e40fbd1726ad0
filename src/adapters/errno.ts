/** The errno code of a failed filesystem or process call (`ENOENT`, `EACCES` …), else `error`. */
export function errnoCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" ? code : "error";
}
