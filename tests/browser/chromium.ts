/**
 * Headless Chromium for the browser tests: Debian's `chromium` package (or the binary named by
 * `PARTI_CHROMIUM`) driven by `playwright-core`, which never downloads a browser of its own.
 */
import { type Browser, chromium } from "playwright-core";

/** The Chromium binary the tests use. */
export const CHROMIUM_PATH: string = Deno.env.get("PARTI_CHROMIUM") || "/usr/bin/chromium";

/** Why the browser tests cannot run here, or `undefined` when they can. */
export function chromiumMissing(): string | undefined {
  try {
    if (Deno.statSync(CHROMIUM_PATH).isFile) return undefined;
  } catch {
    // not there
  }
  return `no Chromium at '${CHROMIUM_PATH}': install Debian's package as root with ` +
    "'apt-get update && apt-get install -y --no-install-recommends chromium', or set " +
    "PARTI_CHROMIUM to a Chromium binary";
}

/**
 * Launches the browser, closed on disposal. The flags keep it from reaching out to the network
 * (the machine has none, and every refused connection is noise) and let it run as root.
 */
export async function launchChromium(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}
