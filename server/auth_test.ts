import assert from "node:assert/strict";
import { Authenticator, hashToken, MAX_TOKEN_LENGTH } from "./auth.ts";

Deno.test("Authenticator: a token of MAX_TOKEN_LENGTH characters is checked; a longer one is refused unhashed", async () => {
  const longest = "t".repeat(MAX_TOKEN_LENGTH);
  const auth = new Authenticator({
    tokens: [{ name: "alice", hash: hashToken(longest), roles: [] }],
    anonymous: false,
    ticketTtl: 30_000,
  });
  const as = (token: string) =>
    auth.authenticate(new Request("http://x/", { headers: { authorization: `Bearer ${token}` } }));
  assert.deepEqual(as(longest), { id: "alice", roles: [], address: undefined });
  const refused = as(`${longest}t`);
  assert.ok(refused instanceof Response);
  assert.equal(refused.status, 401);
  assert.equal(await refused.text(), "invalid token: longer than 1024 characters");
  const wrong = as("t".repeat(MAX_TOKEN_LENGTH - 1));
  assert.ok(wrong instanceof Response);
  assert.equal(await wrong.text(), "invalid token");
});
