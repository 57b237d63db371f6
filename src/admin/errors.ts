/**
 * The error {@link GroupAdmin.open} raises for a group that does not exist, so an operator tool
 * can tell "wrong group name or server" from "the server is down".
 *
 * @module
 */
import { BucketNotFoundError } from "../errors.ts";

/**
 * The group has no buckets on this server (never started, or deleted), or — with a `store` — none
 * of its buckets has ever been written to. Its `code` is `"BUCKET_NOT_FOUND"`, like the
 * {@link BucketNotFoundError} it extends; `bucket` names the first missing bucket.
 *
 * @example Tell a missing group from other failures
 * ```ts ignore
 * import { GroupAdmin, GroupNotFoundError } from "@parti/core";
 *
 * try {
 *   await GroupAdmin.open({ connection: nc, group: "ordres" });
 * } catch (error) {
 *   if (error instanceof GroupNotFoundError) console.error(`No group '${error.group}' here`);
 *   else throw error;
 * }
 * ```
 */
export class GroupNotFoundError extends BucketNotFoundError {
  /** The group that was asked for. */
  readonly group: string;
  /** Every bucket of the group that is missing (or, with a `store`, never written to). */
  readonly missing: readonly string[];

  /**
   * Creates the error.
   *
   * @param group The group name.
   * @param missing The missing (or never written) buckets, at least one.
   * @param options `cause` keeps the store's error; `empty` says the buckets exist but were never
   * written to (a store that cannot open a bucket without creating it).
   */
  constructor(
    group: string,
    missing: readonly string[],
    options: ErrorOptions & { readonly empty?: boolean } = {},
  ) {
    const { empty = false, ...errorOptions } = options;
    super(missing[0] ?? `parti_${group}_hb`, errorOptions);
    this.group = group;
    this.missing = [...missing];
    const names = missing.map((b) => `'${b}'`).join(", ");
    const what = empty
      ? `no worker has ever written to its buckets (${names})`
      : `${names} ${missing.length === 1 ? "is" : "are"} missing`;
    this.message =
      `Group '${group}' does not exist: ${what}; check the group name and the server, or start a worker of the group first`;
    this.name = "GroupNotFoundError";
  }
}
