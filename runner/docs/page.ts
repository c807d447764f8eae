/** Where the gateway serves the API documentation. */
export const DOCS_PATH = '/docs';
export const OPENAPI_PATH = '/openapi.json';
/** Swagger UI's own files (from the installed `swagger-ui-dist` package) live under this prefix. */
export const DOCS_ASSETS_PREFIX = `${DOCS_PATH}/assets/`;
/** The script of the account panel (account-links.js beside this file). */
export const ACCOUNT_LINKS_SCRIPT_PATH = `${DOCS_PATH}/account-links.js`;

/**
 * Our page around Swagger UI: every script and style comes from the gateway itself (no CDN, no
 * network), the document from `/openapi.json` on the same origin, so "Try it out" calls the
 * running local system. No online validator badge (it would call out to the internet).
 *
 * It is also where the links of the account emails lead (ACCOUNT_LINKS_URL): opened with
 * `?action=verify-email&token=…` or `?action=reset-password&token=…`, a panel above Swagger UI
 * (account-links.js, a script of its own) confirms the address or sets the new password.
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
      .account-action { max-width: 1460px; margin: 20px auto 0; padding: 16px 20px; box-sizing: border-box; font-family: sans-serif; color: #3b4151;
        background: #fff; border: 1px solid #49cc90; border-radius: 4px; }
      .account-action h2 { margin: 0 0 8px; font-size: 20px; }
      .account-action__form { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
      .account-action__form input { padding: 6px 8px; min-width: 18em; }
      .account-action__result--success { color: #1a7f4b; font-weight: 600; }
      .account-action__result--problem { color: #b3261e; }
    </style>
  </head>
  <body>
    <section id="account-action" class="account-action" aria-live="polite" hidden></section>
    <script src="${ACCOUNT_LINKS_SCRIPT_PATH}" charset="utf-8"></script>
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
