import { strictEqual } from "node:assert/strict";
import { xxh3_64 } from "../../src/engine/mod.ts";
import { createAssignmentEngine } from "../../src/engine/mod.ts";
import { wasmHashForTesting } from "../../src/engine/wasm_engine.ts";

const PRIME32 = 2654435761n;
const PRIME64 = 11400714785074694797n;

/** The xxHash sanity-check input: bytes from a 64-bit multiplicative generator. */
function sanityBuffer(length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  let gen = PRIME32;
  for (let i = 0; i < length; i++) {
    buffer[i] = Number(gen >> 56n);
    gen = BigInt.asUintN(64, gen * PRIME64);
  }
  return buffer;
}

// XXH3_64bits_withSeed reference values from the xxHash sanity check (length, seed, hash).
const VECTORS: [number, bigint, bigint][] = [
  [0, 0n, 0x2D06800538D394C2n],
  [0, PRIME64, 0xA8A6B918B2F0364An],
  [1, 0n, 0xC44BDFF4074EECDBn],
  [1, PRIME64, 0x032BE332DD766EF8n],
  [6, 0n, 0x27B56A84CD2D7325n],
  [6, PRIME64, 0x84589C116AB59AB9n],
  [12, 0n, 0xA713DAF0DFBB77E7n],
  [12, PRIME64, 0xE7303E1B2336DE0En],
  [24, 0n, 0xA3FE70BF9D3510EBn],
  [24, PRIME64, 0x850E80FC35BDD690n],
  [48, 0n, 0x397DA259ECBA1F11n],
  [48, PRIME64, 0xADC2CBAA44ACC616n],
  [80, 0n, 0xBCDEFBBB2C47C90An],
  [80, PRIME64, 0xC6DD0CB699532E73n],
  [195, 0n, 0xCD94217EE362EC3An],
  [195, PRIME64, 0xBA68003D370CB3D9n],
  [403, 0n, 0xCDEB804D65C6DEA4n],
  [403, PRIME64, 0x6259F6ECFD6443FDn],
  [512, 0n, 0x617E49599013CB6Bn],
  [512, PRIME64, 0x3CE457DE14C27708n],
  [2048, 0n, 0xDD59E2C3A5F038E0n],
  [2048, PRIME64, 0x66F81670669ABABCn],
  [2240, 0n, 0x6E73A90539CF2948n],
  [2240, PRIME64, 0x757BA8487D1B5247n],
  [2367, 0n, 0xCB37AEB9E5D361EDn],
  [2367, PRIME64, 0xD2DB3415B942B42An],
];

const buffer = sanityBuffer(4096 + 64 + 1);

Deno.test("the TypeScript XXH3-64 matches the reference sanity vectors at every length class", () => {
  for (const [length, seed, expected] of VECTORS) {
    strictEqual(
      xxh3_64(buffer.subarray(0, length), seed),
      expected,
      `length ${length}, seed ${seed}`,
    );
  }
});

Deno.test("the WebAssembly XXH3-64 matches the reference sanity vectors at every length class", async () => {
  const engine = await createAssignmentEngine({ backend: "wasm" });
  strictEqual(engine.backend, "wasm");
  for (const [length, seed, expected] of VECTORS) {
    strictEqual(
      wasmHashForTesting(buffer.subarray(0, length), seed),
      expected,
      `length ${length}, seed ${seed}`,
    );
  }
});

Deno.test("both XXH3-64 implementations agree on random inputs and seeds", async () => {
  await createAssignmentEngine({ backend: "wasm" });
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
  for (let n = 0; n < 500; n++) {
    const length = next() % 300;
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = next() & 0xff;
    const seed = (BigInt(next()) << 32n) | BigInt(next());
    strictEqual(xxh3_64(bytes, seed), wasmHashForTesting(bytes, seed));
  }
});

Deno.test("xxh3_64 hashes strings as their UTF-8 bytes", () => {
  strictEqual(xxh3_64("héllo"), xxh3_64(new TextEncoder().encode("héllo")));
});
