/** Where the gateway serves the API documentation. */
export const DOCS_PATH = '/docs';
export const OPENAPI_PATH = '/openapi.json';
/** Swagger UI's own files (from the installed `swagger-ui-dist` package) live under this prefix. */
export const DOCS_ASSETS_PREFIX = `${DOCS_PATH}/assets/`;

/**
 * Our page around Swagger UI: every script and style comes from the gateway itself (no CDN, no
 * network), the document from `/openapi.json` on the same origin, so "Try it out" calls the
 * running local system. No online validator badge (it would call out to the internet).
 */
export function docsPageHtml(): string {
  const config = {
    url: OPENAPI_PATH,
    dom_id: '#swagger-ui',
    deepLinking: true,
    tryItOutEnabled: true,
    persistAuthorization: true,
    displayOperationId: true,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 1,
    validatorUrl: null,
  };
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>knative-accounts API</title>
    <link rel="stylesheet" type="text/css" href="${DOCS_ASSETS_PREFIX}swagger-ui.css">
    <link rel="icon" type="image/png" href="${DOCS_ASSETS_PREFIX}favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="${DOCS_ASSETS_PREFIX}favicon-16x16.png" sizes="16x16">
    <style>
      html { box-sizing: border-box; overflow-y: scroll; }
      *, *::before, *::after { box-sizing: inherit; }
      body { margin: 0; background: #fafafa; }
    </style>
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${DOCS_ASSETS_PREFIX}swagger-ui-bundle.js" charset="utf-8"></script>
    <script src="${DOCS_ASSETS_PREFIX}swagger-ui-standalone-preset.js" charset="utf-8"></script>
    <script>
      window.addEventListener('load', function () {
        var config = ${JSON.stringify(config)};
        config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];
        config.plugins = [SwaggerUIBundle.plugins.DownloadUrl];
        config.layout = 'StandaloneLayout';
        window.ui = SwaggerUIBundle(config);
      });
    </script>
  </body>
</html>
`;
}
