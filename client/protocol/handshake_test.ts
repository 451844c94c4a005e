// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { negotiateSubprotocol, tokenSubprotocol } from "./handshake.ts";

Deno.test("pow.v2 is preferred over pow-1 when a client offers both", () => {
  deepStrictEqual(negotiateSubprotocol("pow-1, pow.v2"), { ok: true, protocol: "pow.v2" });
  deepStrictEqual(negotiateSubprotocol("pow-1"), { ok: true, protocol: "pow-1" });
});

Deno.test("an endpoint's own preference order decides", () => {
  deepStrictEqual(negotiateSubprotocol("pow.v2,pow-1", { protocols: ["pow-1", "pow.v2"] }), {
    ok: true,
    protocol: "pow-1",
  });
});

Deno.test("a token entry round trips through any UTF-8 text", () => {
  for (const token of ["a", "s3cret!", "ünïcødé 🔑", "x".repeat(500), "+/="]) {
    const entry = tokenSubprotocol(token);
    equal(/^pow\.token\.[A-Za-z0-9_-]+$/.test(entry), true, entry);
    deepStrictEqual(negotiateSubprotocol(`pow.v2, ${entry}`), {
      ok: true,
      protocol: "pow.v2",
      token,
    });
  }
  throws(() => tokenSubprotocol(""), {
    name: "TypeError",
    message: "Cannot encode token subprotocol: token is empty",
  });
});

Deno.test("a client that offers no subprotocol gets pow-1's 403 where pow-1 is spoken", () => {
  const refusal = {
    ok: false,
    status: 403,
    body: "client does not support required pow-1 subprotocol",
  };
  deepStrictEqual(negotiateSubprotocol(null), refusal);
  deepStrictEqual(negotiateSubprotocol(" , "), refusal);
  deepStrictEqual(negotiateSubprotocol(tokenSubprotocol("t")), refusal);
  deepStrictEqual(negotiateSubprotocol(null, { protocols: ["pow.v2"] }), {
    ok: false,
    status: 400,
    body: "No subprotocol offered: this endpoint speaks pow.v2",
  });
});

Deno.test("an unsupported version is refused with 400 naming the supported ones", () => {
  deepStrictEqual(negotiateSubprotocol("pow.v3, chat"), {
    ok: false,
    status: 400,
    body: 'Unsupported subprotocol "pow.v3": this endpoint speaks pow.v2, pow-1',
  });
  deepStrictEqual(negotiateSubprotocol("pow-1", { protocols: ["pow.v2"] }), {
    ok: false,
    status: 400,
    body: 'Unsupported subprotocol "pow-1": this endpoint speaks pow.v2',
  });
});

Deno.test("malformed or repeated token entries are refused with 400", () => {
  const bad = {
    ok: false,
    status: 400,
    body: "Cannot read token subprotocol: not the base64url of UTF-8 text",
  };
  deepStrictEqual(negotiateSubprotocol("pow.v2, pow.token."), bad);
  deepStrictEqual(negotiateSubprotocol("pow.v2, pow.token.a"), bad);
  deepStrictEqual(negotiateSubprotocol("pow.v2, pow.token.ab+c"), bad);
  deepStrictEqual(negotiateSubprotocol("pow.v2, pow.token._w"), bad); // byte 0xff
  deepStrictEqual(negotiateSubprotocol("pow.v2, pow.token.YQ, pow.token.Yg"), {
    ok: false,
    status: 400,
    body: "Cannot accept more than one token subprotocol",
  });
});
