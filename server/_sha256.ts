/**
 * SHA-256 (FIPS 180-4) of a string's UTF-8 bytes, synchronously.
 *
 * Tokens are checked on every request, in synchronous code (`Authenticator.authenticate`), and
 * Web Crypto's digest is asynchronous only. `node:crypto` has a synchronous one, but importing it
 * boots Node compatibility in the server: 2.5 MiB of resident memory or more for its whole life
 * (docs/benchmarks.md, "Round eleven"). A token is a few dozen bytes: this plain implementation
 * hashes one in about 2 µs (`node:crypto`: 1.7), and tokens longer than `MAX_TOKEN_LENGTH`
 * (`auth.ts`) are refused before they are hashed. `_sha256_test.ts` checks it against Web Crypto.
 *
 * @module
 */

const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL = new Uint32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

const encoder = new TextEncoder();
/** The message schedule, the state and the last one or two blocks: reused by every call. */
const w = new Uint32Array(64);
const h = new Uint32Array(8);
const tail = new Uint8Array(128);
/** Two hex digits for every byte value. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Mixes the 64-byte block of `bytes` at `offset` into `h`. */
function block(bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15], b = w[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const choice = (e & f) ^ (~e & g);
    const t1 = (k + s1 + choice + K[i] + w[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const majority = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (s0 + majority) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += k;
}

/**
 * The SHA-256 digest of a string's UTF-8 encoding (or of bytes), in lowercase hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./_sha256.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   sha256Hex("abc"),
 *   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
 * );
 * ```
 *
 * @param input The text (hashed as UTF-8) or bytes.
 * @returns 64 hex digits.
 */
export function sha256Hex(input: string | Uint8Array): string {
  const data = typeof input === "string" ? encoder.encode(input) : input;
  h.set(INITIAL);
  const whole = data.length - (data.length % 64);
  for (let offset = 0; offset < whole; offset += 64) block(data, offset);
  // The rest, a 0x80 byte, zeros, and the length in bits as a 64-bit big-endian number: one
  // block, or two when the rest leaves no room for the length.
  const rest = data.length - whole;
  const size = rest + 9 <= 64 ? 64 : 128;
  tail.fill(0);
  tail.set(data.subarray(whole));
  tail[rest] = 0x80;
  const bits = data.length * 8;
  const high = Math.floor(bits / 0x100000000);
  const low = bits >>> 0;
  for (let i = 0; i < 4; i++) {
    tail[size - 8 + i] = (high >>> (24 - i * 8)) & 0xff;
    tail[size - 4 + i] = (low >>> (24 - i * 8)) & 0xff;
  }
  block(tail, 0);
  if (size === 128) block(tail, 64);
  let hex = "";
  for (let i = 0; i < 8; i++) {
    const word = h[i];
    hex += HEX[word >>> 24] + HEX[(word >>> 16) & 0xff] + HEX[(word >>> 8) & 0xff] +
      HEX[word & 0xff];
  }
  return hex;
}

/**
 * Whether two strings are equal, in a time that depends on their length only (not on where
 * they first differ).
 *
 * @example
 * ```ts
 * import { equalStrings } from "./_sha256.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(equalStrings("sha256:ab", "sha256:ab"), true);
 * assert.equal(equalStrings("sha256:ab", "sha256:ac"), false);
 * assert.equal(equalStrings("sha256:ab", "sha256:abc"), false);
 * ```
 *
 * @param a One string.
 * @param b The other.
 * @returns Whether they are equal.
 */
export function equalStrings(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}
