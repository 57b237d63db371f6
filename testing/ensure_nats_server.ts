/**
 * Finds a usable `nats-server` binary, installing the Debian package when that is possible.
 *
 * Run it as a script before the test suite (`deno run -A testing/ensure_nats_server.ts`): it
 * prints the binary's path and version, or exits with status 1 and a message that says exactly
 * how to install `nats-server`.
 *
 * @module
 */

/** Where `nats-server` is looked for after `NATS_SERVER_BIN` and `PATH`, in this order. */
const FALLBACK_DIRS: readonly string[] = ["/usr/sbin", "/usr/local/bin", "/usr/bin", "/sbin"];

const INSTALL_HELP = "Install nats-server: as root on Debian/Ubuntu run " +
  "'apt-get update && apt-get install -y nats-server'; elsewhere download a release from " +
  "https://github.com/nats-io/nats-server/releases and set NATS_SERVER_BIN to the binary's path";

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Returns the first `nats-server` candidate that exists, without running it.
 *
 * The order is: the `NATS_SERVER_BIN` environment variable, each directory of `PATH`, then
 * `/usr/sbin`, `/usr/local/bin`, `/usr/bin` and `/sbin` (the Debian package installs into
 * `/usr/sbin`, which is often missing from a non-root `PATH`).
 *
 * @returns The path of an existing file named `nats-server`, or `undefined` if there is none.
 * @throws {Error} When `NATS_SERVER_BIN` is set but names no file.
 *
 * @example Locate the binary
 * ```ts ignore
 * import { findNatsServer } from "@parti/core/testing";
 *
 * console.log(findNatsServer() ?? "nats-server is not installed");
 * ```
 */
export function findNatsServer(): string | undefined {
  const fromEnv = Deno.env.get("NATS_SERVER_BIN");
  if (fromEnv) {
    if (!isFile(fromEnv)) {
      throw new Error(
        `Cannot find nats-server: NATS_SERVER_BIN is '${fromEnv}', which is not a file; ` +
          "point it at the nats-server binary or unset it",
      );
    }
    return fromEnv;
  }
  const pathDirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const dir of [...pathDirs, ...FALLBACK_DIRS]) {
    const candidate = `${dir}/nats-server`;
    if (isFile(candidate)) return candidate;
  }
  return undefined;
}

/** Runs `binary --version`; returns the version line, or undefined if it does not work. */
async function versionOf(binary: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(binary, {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && text.includes("nats-server") ? text : undefined;
  } catch {
    return undefined;
  }
}

async function run(cmd: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
    return success;
  } catch {
    return false;
  }
}

function canUseApt(): boolean {
  return Deno.build.os === "linux" && Deno.uid() === 0 && isFile("/usr/bin/apt-get");
}

/**
 * Returns the path of a working `nats-server` binary, installing it with apt when it is missing.
 *
 * A binary works when `nats-server --version` succeeds. The binary is searched as
 * {@linkcode findNatsServer} describes. When none works and this process runs as root on a
 * Linux machine with `apt-get`, it runs `apt-get install -y nats-server` (and, only if that
 * fails, `apt-get update` and the install again), then searches once more.
 *
 * @returns The path of a `nats-server` binary whose `--version` works.
 * @throws {Error} When no working binary can be found or installed; the message says how to
 * install one.
 *
 * @example Make sure the server exists before starting tests
 * ```ts ignore
 * import { ensureNatsServer } from "@parti/core/testing";
 *
 * const binary = await ensureNatsServer();
 * console.log(`using ${binary}`);
 * ```
 */
export async function ensureNatsServer(): Promise<string> {
  const found = findNatsServer();
  if (found !== undefined && await versionOf(found) !== undefined) return found;
  if (Deno.env.get("NATS_SERVER_BIN")) {
    throw new Error(
      `Cannot use nats-server: '${found}' (from NATS_SERVER_BIN) does not run ` +
        `'nats-server --version'; ${INSTALL_HELP}`,
    );
  }
  if (canUseApt()) {
    const args = ["install", "-y", "--no-install-recommends", "nats-server"];
    const installed = await run("apt-get", args) ||
      (await run("apt-get", ["update"]) && await run("apt-get", args));
    const again = findNatsServer();
    if (installed && again !== undefined && await versionOf(again) !== undefined) return again;
    throw new Error(`Cannot install nats-server with apt-get; ${INSTALL_HELP}`);
  }
  const where = found === undefined ? "No nats-server binary was found" : `'${found}' does not run`;
  throw new Error(
    `${where} (searched NATS_SERVER_BIN, PATH and ${FALLBACK_DIRS.join(", ")}); ${INSTALL_HELP}`,
  );
}

if (import.meta.main) {
  try {
    const binary = await ensureNatsServer();
    console.log(`nats-server: ${binary} (${await versionOf(binary)})`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
