import assert from "node:assert/strict";
import { ensureNatsServer, findNatsServer } from "../../testing/mod.ts";

const script = new URL("../../testing/ensure_nats_server.ts", import.meta.url).pathname;

async function runScript(env: Record<string, string>): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("ensureNatsServer() returns a binary whose --version runs", async () => {
  const binary = await ensureNatsServer();
  assert.equal(findNatsServer(), binary);
  const out = await new Deno.Command(binary, { args: ["--version"] }).output();
  assert.equal(out.success, true);
  assert.match(new TextDecoder().decode(out.stdout), /^nats-server: v\d+\.\d+\.\d+/);
});

Deno.test("ensureNatsServer() with NATS_SERVER_BIN on a file that does not run says how to install", async () => {
  const fake = await Deno.makeTempFile({ suffix: "-nats-server" });
  const previous = Deno.env.get("NATS_SERVER_BIN");
  Deno.env.set("NATS_SERVER_BIN", fake);
  try {
    await assert.rejects(() => ensureNatsServer(), (error: Error) => {
      assert.match(error.message, /NATS_SERVER_BIN/);
      assert.match(error.message, /apt-get install -y nats-server/);
      assert.match(error.message, /https:\/\/github\.com\/nats-io\/nats-server\/releases/);
      return true;
    });
  } finally {
    if (previous === undefined) Deno.env.delete("NATS_SERVER_BIN");
    else Deno.env.set("NATS_SERVER_BIN", previous);
    await Deno.remove(fake);
  }
});

Deno.test("the ensure_nats_server.ts script prints the binary, or exits 1 with instructions", async () => {
  const ok = await runScript({});
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  assert.match(
    new TextDecoder().decode(ok.stdout),
    /^nats-server: \/.*nats-server \(nats-server: v/,
  );

  const bad = await runScript({ NATS_SERVER_BIN: "/nonexistent/nats-server" });
  assert.equal(bad.code, 1);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /NATS_SERVER_BIN is '\/nonexistent\/nats-server'/,
  );
});
