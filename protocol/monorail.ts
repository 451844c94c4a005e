// Copyright the pow authors. MIT license.
/**
 * The MonoRail resource protocol's messages (re-exported from `@pow/client/protocol/monorail`).
 *
 * @module
 */

export * from "@pow/client/protocol/monorail";
