/**
 * The OpenAPI document (`GET /openapi.json`, merged from every front end's fragment) and
 * Swagger UI (`GET /docs/`).
 *
 * @module
 */

export {
  openApi,
  type OpenApiDocument,
  openApiDocument,
  type OpenApiDocumentOptions,
} from "./front_end.ts";
