/**
 * further-link compatibility: a WebSocket at `furtherLink.path` speaking further-link's JSON
 * protocol, `POST /upload` and `GET /status`. Serves nothing unless `furtherLink.enabled`.
 * See `docs/further-link.md`.
 *
 * @module
 */

export { furtherLink, furtherLinkExitCode, resolveWithin } from "./front_end.ts";
export { type FurtherLinkConfig, furtherLinkConfigSection } from "./config.ts";
