// Copyright the pow authors. MIT license.
/**
 * `pow.v2`, the native protocol: many processes per connection, stdout and stderr apart, exit
 * codes, pty, credit flow control and reattachment by byte offset. Re-exported from
 * `@pow/client/protocol/v2` (see the package overview).
 *
 * @module
 */

export * from "@pow/client/protocol/v2";
