import assert from "node:assert/strict";
import { equalStrings, sha256Hex } from "./_sha256.ts";

async function webCrypto(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("sha256Hex: the FIPS 180-4 examples", () => {
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  assert.equal(
    sha256Hex("a".repeat(1_000_000)),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  );
});

Deno.test("sha256Hex: agrees with Web Crypto on every length around the block boundaries and on UTF-8 text", async () => {
  for (let length = 0; length <= 300; length++) {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    assert.equal(sha256Hex(bytes), await webCrypto(bytes), `length ${length}`);
  }
  for (const text of ["t0k", "héllo wörld", "🔑 token ✓", "\u0000\uffff"]) {
    assert.equal(sha256Hex(text), await webCrypto(new TextEncoder().encode(text)), text);
  }
});

Deno.test("equalStrings: equal only for the same characters and length", () => {
  assert.equal(equalStrings("", ""), true);
  assert.equal(equalStrings("abc", "abc"), true);
  assert.equal(equalStrings("abc", "abd"), false);
  assert.equal(equalStrings("abc", "ab"), false);
  assert.equal(equalStrings("é", "e"), false);
});
