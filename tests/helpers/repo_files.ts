/** Reading files of this repository by their path from its root, for the docs and community tests. */

/** The repository root. */
export const ROOT: URL = new URL("../../", import.meta.url);

/** The absolute path of a file given relative to the root. */
export const path = (relative: string): string => new URL(relative, ROOT).pathname;

/** A file's text. */
export const read = (relative: string): string => Deno.readTextFileSync(path(relative));

/** Whether a file or directory exists. */
export const exists = (relative: string): boolean => {
  try {
    Deno.statSync(path(relative));
    return true;
  } catch {
    return false;
  }
};
