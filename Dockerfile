# One image for every function: FUNCTION_TARGET picks the function, and only its bundle is loaded.

# Build stage: install, compile and bundle each function into one file (dist/<name>.js).
FROM node:22.12.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are not needed to bundle (esbuild's binary comes in its platform package).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY functions/ functions/
COPY migrations/ migrations/
COPY scripts/ scripts/
RUN npx tsx scripts/build/build.ts
# functions-framework stays outside the bundles (a function registers with the copy its process
# loads): it and the packages it needs, at the lockfile's versions, and nothing else.
RUN npx tsx scripts/build/runtime-modules.ts /runtime/node_modules

# Runtime stage: distroless Node 22, no shell, no package manager, no build tools, non-root.
# The bundles carry every other dependency.
FROM gcr.io/distroless/nodejs22-debian12:nonroot AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build --chown=nonroot:nonroot /runtime/node_modules/ /app/node_modules/
COPY --from=build --chown=nonroot:nonroot /src/dist/ /app/dist/
USER nonroot
EXPOSE 8080
# The base image's entrypoint is node itself. The migration Job runs ["dist/migrate.js", "up"] instead;
# the stock CLI serves a function too: ["node_modules/@google-cloud/functions-framework/build/src/main.js",
# "--target=users-get", "--source=dist/users-get.js"].
CMD ["--enable-source-maps", "dist/main.js"]
