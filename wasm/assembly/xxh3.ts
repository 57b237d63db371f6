// XXH3-64 (seeded) over bytes in linear memory. Written from the published algorithm description;
// verified against the reference sanity vectors in tests/unit/xxh3_test.ts.

const P32_1: u64 = 0x9e3779b1;
const P32_2: u64 = 0x85ebca77;
const P32_3: u64 = 0xc2b2ae3d;
const P64_1: u64 = 0x9e3779b185ebca87;
const P64_2: u64 = 0xc2b2ae3d27d4eb4f;
const P64_3: u64 = 0x165667b19e3779f9;
const P64_4: u64 = 0x85ebca77c2b2ae63;
const P64_5: u64 = 0x27d4eb2f165667c5;
const PMX1: u64 = 0x165667919e3779f9;
const PMX2: u64 = 0x9fb21c651e98df25;

const SECRET_SIZE: usize = 192;
const STRIPE: usize = 64;
const STRIPES_PER_BLOCK: usize = (SECRET_SIZE - STRIPE) / 8;
const BLOCK: usize = STRIPE * STRIPES_PER_BLOCK;

// The default 192-byte secret.
const K_SECRET: usize = memory.data<u8>([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);
// Scratch for the seed-derived secret of long inputs and for the 8 accumulators.
const CUSTOM_SECRET: usize = memory.data(192, 16);
const ACC: usize = memory.data(64, 16);

@inline function r64(p: usize): u64 {
  return load<u64>(p);
}

@inline function r32(p: usize): u64 {
  return <u64>load<u32>(p);
}

// Low 64 bits xor high 64 bits of the 128-bit product.
@inline function mulFold(a: u64, b: u64): u64 {
  const aLo = a & 0xffffffff;
  const aHi = a >> 32;
  const bLo = b & 0xffffffff;
  const bHi = b >> 32;
  const ll = aLo * bLo;
  const hl = aHi * bLo;
  const lh = aLo * bHi;
  const hh = aHi * bHi;
  const cross = (ll >> 32) + (hl & 0xffffffff) + lh;
  const upper = (hl >> 32) + (cross >> 32) + hh;
  const lower = (cross << 32) | (ll & 0xffffffff);
  return lower ^ upper;
}

@inline function xxh64Avalanche(h: u64): u64 {
  h ^= h >> 33;
  h *= P64_2;
  h ^= h >> 29;
  h *= P64_3;
  h ^= h >> 32;
  return h;
}

@inline function avalanche(h: u64): u64 {
  h ^= h >> 37;
  h *= PMX1;
  h ^= h >> 32;
  return h;
}

@inline function rrmxmx(h: u64, len: u64): u64 {
  h ^= rotl<u64>(h, 49) ^ rotl<u64>(h, 24);
  h *= PMX2;
  h ^= (h >> 35) + len;
  h *= PMX2;
  h ^= h >> 28;
  return h;
}

@inline function mix16(p: usize, s: usize, seed: u64): u64 {
  return mulFold(r64(p) ^ (r64(s) + seed), r64(p + 8) ^ (r64(s + 8) - seed));
}

function accumulate512(p: usize, s: usize): void {
  for (let i: usize = 0; i < 8; i++) {
    const v = r64(p + (i << 3));
    const k = v ^ r64(s + (i << 3));
    const a1 = ACC + ((i ^ 1) << 3);
    store<u64>(a1, load<u64>(a1) + v);
    const a0 = ACC + (i << 3);
    store<u64>(a0, load<u64>(a0) + (k & 0xffffffff) * (k >> 32));
  }
}

function scramble(s: usize): void {
  for (let i: usize = 0; i < 8; i++) {
    const a = ACC + (i << 3);
    let v = load<u64>(a);
    v ^= v >> 47;
    v ^= r64(s + (i << 3));
    v *= P32_1;
    store<u64>(a, v);
  }
}

function hashLong(p: usize, len: usize, seed: u64): u64 {
  let s = K_SECRET;
  if (seed != 0) {
    for (let i: usize = 0; i < SECRET_SIZE; i += 16) {
      store<u64>(CUSTOM_SECRET + i, r64(K_SECRET + i) + seed);
      store<u64>(CUSTOM_SECRET + i + 8, r64(K_SECRET + i + 8) - seed);
    }
    s = CUSTOM_SECRET;
  }
  store<u64>(ACC, P32_3);
  store<u64>(ACC + 8, P64_1);
  store<u64>(ACC + 16, P64_2);
  store<u64>(ACC + 24, P64_3);
  store<u64>(ACC + 32, P64_4);
  store<u64>(ACC + 40, P32_2);
  store<u64>(ACC + 48, P64_5);
  store<u64>(ACC + 56, P32_1);
  const blocks = (len - 1) / BLOCK;
  for (let b: usize = 0; b < blocks; b++) {
    const base = p + b * BLOCK;
    for (let st: usize = 0; st < STRIPES_PER_BLOCK; st++) {
      accumulate512(base + st * STRIPE, s + (st << 3));
    }
    scramble(s + SECRET_SIZE - STRIPE);
  }
  const stripes = ((len - 1) - BLOCK * blocks) / STRIPE;
  const base = p + blocks * BLOCK;
  for (let st: usize = 0; st < stripes; st++) {
    accumulate512(base + st * STRIPE, s + (st << 3));
  }
  accumulate512(p + len - STRIPE, s + SECRET_SIZE - STRIPE - 7);
  let acc = <u64>len * P64_1;
  for (let i: usize = 0; i < 4; i++) {
    const a = ACC + (i << 4);
    const k = s + 11 + (i << 4);
    acc += mulFold(load<u64>(a) ^ r64(k), load<u64>(a + 8) ^ r64(k + 8));
  }
  return avalanche(acc);
}

/** The seed-dependent constant of {@link vnodeHash} for a worker whose ID hashes to `seed`. */
export function vnodeFlip(seed: u64): u64 {
  const sd = seed ^ (<u64>bswap<u32>(<u32>seed) << 32);
  return (r64(K_SECRET + 8) ^ r64(K_SECRET + 16)) - sd;
}

/** XXH3-64 of LE64(v) for v < 2^32 with the seed folded into `flip` (the 4..8-byte path). */
@inline export function vnodeHash(v: u32, flip: u64): u64 {
  return rrmxmx((<u64>v << 32) ^ flip, 8);
}

/** XXH3-64 of `len` bytes at `p`, seeded. */
export function xxh3(p: usize, len: usize, seed: u64): u64 {
  const s = K_SECRET;
  if (len <= 16) {
    if (len > 8) {
      const lo = r64(p) ^ ((r64(s + 24) ^ r64(s + 32)) + seed);
      const hi = r64(p + len - 8) ^ ((r64(s + 40) ^ r64(s + 48)) - seed);
      return avalanche(<u64>len + bswap<u64>(lo) + hi + mulFold(lo, hi));
    }
    if (len >= 4) {
      const sd = seed ^ (<u64>bswap<u32>(<u32>seed) << 32);
      const in64 = r32(p + len - 4) + (r32(p) << 32);
      return rrmxmx(in64 ^ ((r64(s + 8) ^ r64(s + 16)) - sd), <u64>len);
    }
    if (len > 0) {
      const c1 = <u32>load<u8>(p);
      const c2 = <u32>load<u8>(p + (len >> 1));
      const c3 = <u32>load<u8>(p + len - 1);
      const combined = (c1 << 16) | (c2 << 24) | c3 | (<u32>len << 8);
      const flip = <u64>(load<u32>(s) ^ load<u32>(s + 4)) + seed;
      return xxh64Avalanche(<u64>combined ^ flip);
    }
    return xxh64Avalanche(seed ^ (r64(s + 56) ^ r64(s + 64)));
  }
  if (len <= 128) {
    let acc = <u64>len * P64_1;
    if (len > 32) {
      if (len > 64) {
        if (len > 96) {
          acc += mix16(p + 48, s + 96, seed);
          acc += mix16(p + len - 64, s + 112, seed);
        }
        acc += mix16(p + 32, s + 64, seed);
        acc += mix16(p + len - 48, s + 80, seed);
      }
      acc += mix16(p + 16, s + 32, seed);
      acc += mix16(p + len - 32, s + 48, seed);
    }
    acc += mix16(p, s, seed);
    acc += mix16(p + len - 16, s + 16, seed);
    return avalanche(acc);
  }
  if (len <= 240) {
    let acc = <u64>len * P64_1;
    const rounds = len >> 4;
    for (let i: usize = 0; i < 8; i++) acc += mix16(p + (i << 4), s + (i << 4), seed);
    acc = avalanche(acc);
    for (let i: usize = 8; i < rounds; i++) acc += mix16(p + (i << 4), s + ((i - 8) << 4) + 3, seed);
    acc += mix16(p + len - 16, s + 136 - 17, seed);
    return avalanche(acc);
  }
  return hashLong(p, len, seed);
}
