/**
 * XXH3-64 (seeded) in plain TypeScript, using pairs of unsigned 32-bit halves so that it needs no
 * BigInt on the hot path. It is the reference the WebAssembly kernel is tested against and the hash
 * used by the pure-TypeScript backend.
 *
 * @module
 */

// 64-bit constants as [high, low] halves.
const P32_1 = 0x9e3779b1;
const P32_2 = 0x85ebca77;
const P32_3 = 0xc2b2ae3d;
const P64_1_H = 0x9e3779b1, P64_1_L = 0x85ebca87;
const P64_2_H = 0xc2b2ae3d, P64_2_L = 0x27d4eb4f;
const P64_3_H = 0x165667b1, P64_3_L = 0x9e3779f9;
const P64_4_H = 0x85ebca77, P64_4_L = 0xc2b2ae63;
const P64_5_H = 0x27d4eb2f, P64_5_L = 0x165667c5;
const PMX1_H = 0x16566791, PMX1_L = 0x9e3779f9;
const PMX2_H = 0x9fb21c65, PMX2_L = 0x1e98df25;

const SECRET = new Uint8Array([
  0xb8,
  0xfe,
  0x6c,
  0x39,
  0x23,
  0xa4,
  0x4b,
  0xbe,
  0x7c,
  0x01,
  0x81,
  0x2c,
  0xf7,
  0x21,
  0xad,
  0x1c,
  0xde,
  0xd4,
  0x6d,
  0xe9,
  0x83,
  0x90,
  0x97,
  0xdb,
  0x72,
  0x40,
  0xa4,
  0xa4,
  0xb7,
  0xb3,
  0x67,
  0x1f,
  0xcb,
  0x79,
  0xe6,
  0x4e,
  0xcc,
  0xc0,
  0xe5,
  0x78,
  0x82,
  0x5a,
  0xd0,
  0x7d,
  0xcc,
  0xff,
  0x72,
  0x21,
  0xb8,
  0x08,
  0x46,
  0x74,
  0xf7,
  0x43,
  0x24,
  0x8e,
  0xe0,
  0x35,
  0x90,
  0xe6,
  0x81,
  0x3a,
  0x26,
  0x4c,
  0x3c,
  0x28,
  0x52,
  0xbb,
  0x91,
  0xc3,
  0x00,
  0xcb,
  0x88,
  0xd0,
  0x65,
  0x8b,
  0x1b,
  0x53,
  0x2e,
  0xa3,
  0x71,
  0x64,
  0x48,
  0x97,
  0xa2,
  0x0d,
  0xf9,
  0x4e,
  0x38,
  0x19,
  0xef,
  0x46,
  0xa9,
  0xde,
  0xac,
  0xd8,
  0xa8,
  0xfa,
  0x76,
  0x3f,
  0xe3,
  0x9c,
  0x34,
  0x3f,
  0xf9,
  0xdc,
  0xbb,
  0xc7,
  0xc7,
  0x0b,
  0x4f,
  0x1d,
  0x8a,
  0x51,
  0xe0,
  0x4b,
  0xcd,
  0xb4,
  0x59,
  0x31,
  0xc8,
  0x9f,
  0x7e,
  0xc9,
  0xd9,
  0x78,
  0x73,
  0x64,
  0xea,
  0xc5,
  0xac,
  0x83,
  0x34,
  0xd3,
  0xeb,
  0xc3,
  0xc5,
  0x81,
  0xa0,
  0xff,
  0xfa,
  0x13,
  0x63,
  0xeb,
  0x17,
  0x0d,
  0xdd,
  0x51,
  0xb7,
  0xf0,
  0xda,
  0x49,
  0xd3,
  0x16,
  0x55,
  0x26,
  0x29,
  0xd4,
  0x68,
  0x9e,
  0x2b,
  0x16,
  0xbe,
  0x58,
  0x7d,
  0x47,
  0xa1,
  0xfc,
  0x8f,
  0xf8,
  0xb8,
  0xd1,
  0x7a,
  0xd0,
  0x31,
  0xce,
  0x45,
  0xcb,
  0x3a,
  0x8f,
  0x95,
  0x16,
  0x04,
  0x28,
  0xaf,
  0xd7,
  0xfb,
  0xca,
  0xbb,
  0x4b,
  0x40,
  0x7e,
]);
const SECRET_SIZE = 192;
const STRIPES_PER_BLOCK = (SECRET_SIZE - 64) / 8;
const BLOCK = 64 * STRIPES_PER_BLOCK;
const TWO32 = 4294967296;

const customSecret = new Uint8Array(SECRET_SIZE);
const acc = new Uint32Array(16); // 8 accumulators as [hi, lo] pairs

// Result registers of the 64-bit helpers below.
let RH = 0;
let RL = 0;
// Full product of two u32.
let MH = 0;
let ML = 0;

function mul32(a: number, b: number): void {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  ML = ((mid << 16) | (p00 & 0xffff)) >>> 0;
  MH = (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

// Low 64 bits of a * b.
function mul64(ah: number, al: number, bh: number, bl: number): void {
  mul32(al, bl);
  RH = (MH + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
  RL = ML;
}

// Low 64 bits xor high 64 bits of the 128-bit product a * b.
function mulFold(ah: number, al: number, bh: number, bl: number): void {
  mul32(al, bl);
  const llH = MH, llL = ML;
  mul32(al, bh);
  const lhH = MH, lhL = ML;
  mul32(ah, bl);
  const hlH = MH, hlL = ML;
  mul32(ah, bh);
  const w1 = llH + lhL + hlL;
  const r1 = w1 >>> 0;
  const w2 = lhH + hlH + ML + (w1 - r1) / TWO32;
  const r2 = w2 >>> 0;
  const r3 = (MH + (w2 - r2) / TWO32) >>> 0;
  RH = (r1 ^ r3) >>> 0;
  RL = (llL ^ r2) >>> 0;
}

function rd32(b: Uint8Array, p: number): number {
  return ((b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0);
}

function xxh64Avalanche(h: number, l: number): void {
  l = (l ^ (h >>> 1)) >>> 0;
  mul64(h, l, P64_2_H, P64_2_L);
  h = RH;
  l = (RL ^ ((RL >>> 29) | (h << 3))) >>> 0;
  h = (h ^ (h >>> 29)) >>> 0;
  mul64(h, l, P64_3_H, P64_3_L);
  RL = (RL ^ RH) >>> 0;
}

function avalanche(h: number, l: number): void {
  l = (l ^ (h >>> 5)) >>> 0;
  mul64(h, l, PMX1_H, PMX1_L);
  RL = (RL ^ RH) >>> 0;
}

function rrmxmx(h: number, l: number, len: number): void {
  // h ^= rotl(h, 49) ^ rotl(h, 24)
  const r49h = ((l << 17) | (h >>> 15)) >>> 0, r49l = ((h << 17) | (l >>> 15)) >>> 0;
  const r24h = ((h << 24) | (l >>> 8)) >>> 0, r24l = ((l << 24) | (h >>> 8)) >>> 0;
  h = (h ^ r49h ^ r24h) >>> 0;
  l = (l ^ r49l ^ r24l) >>> 0;
  mul64(h, l, PMX2_H, PMX2_L);
  h = RH;
  l = RL;
  // h ^= (h >> 35) + len
  const s = (h >>> 3) + len;
  l = (l ^ s) >>> 0;
  h = (h ^ (s > 0xffffffff ? 1 : 0)) >>> 0;
  mul64(h, l, PMX2_H, PMX2_L);
  h = RH;
  l = RL;
  RL = (l ^ ((l >>> 28) | (h << 4))) >>> 0;
  RH = (h ^ (h >>> 28)) >>> 0;
}

// acc (hi, lo) += mix16(input at p, secret at s, seed)
let AH = 0;
let AL = 0;
function addMix16(
  b: Uint8Array,
  p: number,
  sec: Uint8Array,
  s: number,
  sh: number,
  sl: number,
): void {
  // lo = read64(p) ^ (read64(s) + seed)
  let kl = rd32(sec, s) + sl;
  let kh = (rd32(sec, s + 4) + sh + (kl > 0xffffffff ? 1 : 0)) >>> 0;
  kl >>>= 0;
  const loL = (rd32(b, p) ^ kl) >>> 0, loH = (rd32(b, p + 4) ^ kh) >>> 0;
  // hi = read64(p + 8) ^ (read64(s + 8) - seed)
  kl = rd32(sec, s + 8) - sl;
  kh = (rd32(sec, s + 12) - sh - (kl < 0 ? 1 : 0)) >>> 0;
  kl >>>= 0;
  const hiL = (rd32(b, p + 8) ^ kl) >>> 0, hiH = (rd32(b, p + 12) ^ kh) >>> 0;
  mulFold(loH, loL, hiH, hiL);
  const l = AL + RL;
  AL = l >>> 0;
  AH = (AH + RH + (l > 0xffffffff ? 1 : 0)) >>> 0;
}

function accumulate512(b: Uint8Array, p: number, sec: Uint8Array, s: number): void {
  for (let i = 0; i < 8; i++) {
    const vl = rd32(b, p + 8 * i), vh = rd32(b, p + 8 * i + 4);
    const kl = (vl ^ rd32(sec, s + 8 * i)) >>> 0, kh = (vh ^ rd32(sec, s + 8 * i + 4)) >>> 0;
    const j = (i ^ 1) * 2;
    let l = acc[j + 1]! + vl;
    acc[j + 1] = l;
    acc[j] = acc[j]! + vh + (l > 0xffffffff ? 1 : 0);
    mul32(kl, kh);
    l = acc[2 * i + 1]! + ML;
    acc[2 * i + 1] = l;
    acc[2 * i] = acc[2 * i]! + MH + (l > 0xffffffff ? 1 : 0);
  }
}

function scramble(sec: Uint8Array, s: number): void {
  for (let i = 0; i < 8; i++) {
    let h = acc[2 * i]!, l = acc[2 * i + 1]!;
    l = (l ^ (h >>> 15)) >>> 0; // v ^= v >> 47
    h = (h ^ rd32(sec, s + 8 * i + 4)) >>> 0;
    l = (l ^ rd32(sec, s + 8 * i)) >>> 0;
    mul64(h, l, 0, P32_1);
    acc[2 * i] = RH;
    acc[2 * i + 1] = RL;
  }
}

function hashLong(b: Uint8Array, p: number, len: number, sh: number, sl: number): void {
  let sec = SECRET;
  if (sh !== 0 || sl !== 0) {
    for (let i = 0; i < SECRET_SIZE; i += 16) {
      let l = rd32(SECRET, i) + sl;
      let h = rd32(SECRET, i + 4) + sh + (l > 0xffffffff ? 1 : 0);
      writeLE64(customSecret, i, h >>> 0, l >>> 0);
      l = rd32(SECRET, i + 8) - sl;
      h = rd32(SECRET, i + 12) - sh - (l < 0 ? 1 : 0);
      writeLE64(customSecret, i + 8, h >>> 0, l >>> 0);
    }
    sec = customSecret;
  }
  acc.set([
    0,
    P32_3,
    P64_1_H,
    P64_1_L,
    P64_2_H,
    P64_2_L,
    P64_3_H,
    P64_3_L,
    P64_4_H,
    P64_4_L,
    0,
    P32_2,
    P64_5_H,
    P64_5_L,
    0,
    P32_1,
  ]);
  const blocks = Math.floor((len - 1) / BLOCK);
  for (let n = 0; n < blocks; n++) {
    const base = p + n * BLOCK;
    for (let st = 0; st < STRIPES_PER_BLOCK; st++) accumulate512(b, base + st * 64, sec, st * 8);
    scramble(sec, SECRET_SIZE - 64);
  }
  const stripes = Math.floor((len - 1 - BLOCK * blocks) / 64);
  const base = p + blocks * BLOCK;
  for (let st = 0; st < stripes; st++) accumulate512(b, base + st * 64, sec, st * 8);
  accumulate512(b, p + len - 64, sec, SECRET_SIZE - 64 - 7);
  mul64(0, len, P64_1_H, P64_1_L);
  AH = RH;
  AL = RL;
  for (let i = 0; i < 4; i++) {
    const k = 11 + 16 * i;
    mulFold(
      (acc[4 * i]! ^ rd32(sec, k + 4)) >>> 0,
      (acc[4 * i + 1]! ^ rd32(sec, k)) >>> 0,
      (acc[4 * i + 2]! ^ rd32(sec, k + 12)) >>> 0,
      (acc[4 * i + 3]! ^ rd32(sec, k + 8)) >>> 0,
    );
    const l = AL + RL;
    AL = l >>> 0;
    AH = (AH + RH + (l > 0xffffffff ? 1 : 0)) >>> 0;
  }
  avalanche(AH, AL);
}

function writeLE64(b: Uint8Array, p: number, h: number, l: number): void {
  b[p] = l;
  b[p + 1] = l >>> 8;
  b[p + 2] = l >>> 16;
  b[p + 3] = l >>> 24;
  b[p + 4] = h;
  b[p + 5] = h >>> 8;
  b[p + 6] = h >>> 16;
  b[p + 7] = h >>> 24;
}

/**
 * Output of {@link xxh3Raw}: `[high 32 bits, low 32 bits]` of the last hash.
 * Overwritten by every call.
 */
export const xxh3Out: Uint32Array = new Uint32Array(2);

/**
 * XXH3-64 of `len` bytes of `b` from offset `p`, seeded with the 64-bit value `seedHi:seedLo`.
 * Writes the result to {@link xxh3Out} (no allocation, no BigInt).
 *
 * @param b The bytes.
 * @param p Offset of the first byte.
 * @param len Number of bytes.
 * @param sh High 32 bits of the seed.
 * @param sl Low 32 bits of the seed.
 */
export function xxh3Raw(b: Uint8Array, p: number, len: number, sh: number, sl: number): void {
  if (len <= 16) {
    if (len > 8) {
      // bitflip1 = (s24 ^ s32) + seed, bitflip2 = (s40 ^ s48) - seed
      let fl = ((rd32(SECRET, 24) ^ rd32(SECRET, 32)) >>> 0) + sl;
      let fh = (((rd32(SECRET, 28) ^ rd32(SECRET, 36)) >>> 0) + sh + (fl > 0xffffffff ? 1 : 0)) >>>
        0;
      const loL = (rd32(b, p) ^ fl) >>> 0, loH = (rd32(b, p + 4) ^ fh) >>> 0;
      fl = ((rd32(SECRET, 40) ^ rd32(SECRET, 48)) >>> 0) - sl;
      fh = (((rd32(SECRET, 44) ^ rd32(SECRET, 52)) >>> 0) - sh - (fl < 0 ? 1 : 0)) >>> 0;
      const hiL = (rd32(b, p + len - 8) ^ fl) >>> 0;
      const hiH = (rd32(b, p + len - 4) ^ fh) >>> 0;
      // acc = len + bswap64(lo) + hi + mulFold(lo, hi)
      const swH =
        ((loL >>> 24) | ((loL >>> 8) & 0xff00) | ((loL << 8) & 0xff0000) | (loL << 24)) >>>
        0;
      const swL =
        ((loH >>> 24) | ((loH >>> 8) & 0xff00) | ((loH << 8) & 0xff0000) | (loH << 24)) >>>
        0;
      mulFold(loH, loL, hiH, hiL);
      const l = len + swL + hiL + RL;
      const h = (swH + hiH + RH + Math.floor(l / TWO32)) >>> 0;
      avalanche(h, l >>> 0);
    } else if (len >= 4) {
      // seed ^= bswap32(low32(seed)) << 32
      const swapped =
        ((sl >>> 24) | ((sl >>> 8) & 0xff00) | ((sl << 8) & 0xff0000) | (sl << 24)) >>> 0;
      const seedH = (sh ^ swapped) >>> 0;
      // bitflip = (s8 ^ s16) - seed
      const fl = ((rd32(SECRET, 8) ^ rd32(SECRET, 16)) >>> 0) - sl;
      const fh = (((rd32(SECRET, 12) ^ rd32(SECRET, 20)) >>> 0) - seedH - (fl < 0 ? 1 : 0)) >>> 0;
      // input64 = read32(end - 4) + (read32(p) << 32)
      const kh = (rd32(b, p) ^ fh) >>> 0;
      const kl = (rd32(b, p + len - 4) ^ (fl >>> 0)) >>> 0;
      rrmxmx(kh, kl, len);
    } else if (len > 0) {
      const c1 = b[p]!, c2 = b[p + (len >> 1)]!, c3 = b[p + len - 1]!;
      const combined = ((c1 << 16) | (c2 << 24) | c3 | (len << 8)) >>> 0;
      const fl = ((rd32(SECRET, 0) ^ rd32(SECRET, 4)) >>> 0) + sl;
      const fh = (sh + (fl > 0xffffffff ? 1 : 0)) >>> 0;
      xxh64Avalanche(fh, (combined ^ fl) >>> 0);
    } else {
      xxh64Avalanche(
        (sh ^ rd32(SECRET, 60) ^ rd32(SECRET, 68)) >>> 0,
        (sl ^ rd32(SECRET, 56) ^ rd32(SECRET, 64)) >>> 0,
      );
    }
  } else if (len <= 128) {
    mul64(0, len, P64_1_H, P64_1_L);
    AH = RH;
    AL = RL;
    if (len > 32) {
      if (len > 64) {
        if (len > 96) {
          addMix16(b, p + 48, SECRET, 96, sh, sl);
          addMix16(b, p + len - 64, SECRET, 112, sh, sl);
        }
        addMix16(b, p + 32, SECRET, 64, sh, sl);
        addMix16(b, p + len - 48, SECRET, 80, sh, sl);
      }
      addMix16(b, p + 16, SECRET, 32, sh, sl);
      addMix16(b, p + len - 32, SECRET, 48, sh, sl);
    }
    addMix16(b, p, SECRET, 0, sh, sl);
    addMix16(b, p + len - 16, SECRET, 16, sh, sl);
    avalanche(AH, AL);
  } else if (len <= 240) {
    mul64(0, len, P64_1_H, P64_1_L);
    AH = RH;
    AL = RL;
    const rounds = len >> 4;
    for (let i = 0; i < 8; i++) addMix16(b, p + 16 * i, SECRET, 16 * i, sh, sl);
    avalanche(AH, AL);
    AH = RH;
    AL = RL;
    for (let i = 8; i < rounds; i++) addMix16(b, p + 16 * i, SECRET, 16 * (i - 8) + 3, sh, sl);
    addMix16(b, p + len - 16, SECRET, 136 - 17, sh, sl);
    avalanche(AH, AL);
  } else {
    hashLong(b, p, len, sh, sl);
  }
  xxh3Out[0] = RH;
  xxh3Out[1] = RL;
}

const encoder = new TextEncoder();

/**
 * Computes the 64-bit XXH3 hash of a string (as UTF-8) or of bytes, optionally seeded.
 * This is the hash Parti uses to place partitions and workers on the ring.
 *
 * @param input A string (hashed as its UTF-8 bytes) or bytes.
 * @param seed A 64-bit unsigned seed.
 * @default {0n} seed
 * @returns The hash as an unsigned 64-bit bigint.
 *
 * @example Hash a partition key
 * ```ts
 * import { xxh3_64 } from "@parti/core/engine";
 * const h = xxh3_64("orders");
 * const chained = xxh3_64("0", h); // the hash of the partition ["orders", "0"]
 * console.log(h.toString(16), chained.toString(16));
 * ```
 */
export function xxh3_64(input: string | Uint8Array, seed: bigint = 0n): bigint {
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  const s = BigInt.asUintN(64, seed);
  xxh3Raw(bytes, 0, bytes.length, Number(s >> 32n), Number(s & 0xffffffffn));
  return (BigInt(xxh3Out[0]!) << 32n) | BigInt(xxh3Out[1]!);
}
