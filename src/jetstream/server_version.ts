/**
 * What the connected server can do, read from the version in its INFO (`nc.info.version`):
 * consumers with several filter subjects need nats-server 2.10. Detected, never assumed; the
 * consumer still runs one durable per partition either way (a multi-filter mode is not
 * implemented yet), and reports what it found.
 *
 * @module
 */

/** The first server version whose consumers accept `filter_subjects`. */
export const MULTI_FILTER_MIN_VERSION: readonly [number, number] = [2, 10];

/**
 * Whether a server of `version` supports consumers with several filter subjects.
 *
 * @param version A server version such as `"2.9.10"` or `"2.10.4-beta.1"`; `undefined` when the
 * connection has not seen the server's INFO.
 * @returns `false` for older, unknown or unparsable versions.
 */
export function supportsMultipleFilters(version: string | undefined): boolean {
  const match = /^v?(\d+)\.(\d+)/.exec(version ?? "");
  if (!match) return false;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  const [wantMajor, wantMinor] = MULTI_FILTER_MIN_VERSION;
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}
