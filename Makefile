# npm scripts are the commands; make installs what they need first and adds the cluster steps.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The image every Knative Service runs; VERSION is a version (or digest), never `latest`.
IMAGE ?= ghcr.io/knative-accounts/functions
VERSION ?= $(shell node -p 'require("./package.json").version')
# The namespace every manifest names (knative/, eventing/ and the generated Services). Another one given
# would only change the printed commands, not the manifests: the cluster targets refuse it.
CLUSTER_TARGETS := secrets ingress deploy canary promote rollback contract status
ifneq ($(filter $(CLUSTER_TARGETS),$(MAKECMDGOALS)),)
ifneq ($(filter command line environment environment override,$(origin NAMESPACE)),)
ifneq ($(NAMESPACE),accounts)
$(error NAMESPACE=$(NAMESPACE): the manifests and kustomizations name the namespace accounts, so this would apply them there anyway. To deploy into another namespace, change NAMESPACE in scripts/deploy/namespace.ts and run npm run manifests)
endif
endif
endif
NAMESPACE := accounts
# DRY_RUN=1 prints the cluster commands instead of running them, and writes nothing but DEPLOY_DIR.
DRY_RUN ?=
RUN := $(if $(filter 1,$(DRY_RUN)),@echo,)
# The ingress in front of Knative Serving, whose gateway pods the network policies let in: kourier, istio or contour.
INGRESS ?= kourier
# The rollout state: which revisions of each function take its traffic (make deploy, canary, promote,
# rollback rewrite it once the cluster has the change Ready; commit it). DEPLOY_DIR: where those generate the manifests they apply.
ROLLOUT_STATE ?= knative/rollout.yaml
DEPLOY_DIR ?= .deploy
# IMAGE as given on the command line or in the environment; left empty, a rollout keeps the image each function runs.
GIVEN_IMAGE := $(if $(filter file,$(origin IMAGE)),,$(IMAGE))
# The networks of the proxies in front of the functions (the cluster's pod networks, a load balancer's
# ranges): make deploy writes them into the ConfigMap accounts-client-addresses (docs/deploying.md, "Client addresses").
TRUSTED_PROXY_CIDRS ?=
# Where Postgres runs: statefulset (knative/postgres) or cloudnativepg (knative/overlays/cloudnativepg). Left
# empty, the backend the rollout state records; a different one is refused (docs/deploying.md, "Moving from
# the StatefulSet to CloudNativePG"). cloudnativepg's deploy needs BACKUP_DESTINATION=s3://bucket/path (and
# BACKUP_ENDPOINT_URL for a store other than AWS S3).
POSTGRES ?=
BACKUP_DESTINATION ?=
BACKUP_ENDPOINT_URL ?=
# The backend a deploy applies: POSTGRES, or what the rollout state records (scripts/deploy/rollout.ts refuses
# a POSTGRES that differs from it before anything is recorded or applied).
RECORDED_POSTGRES = $(or $(shell sed -n 's/^postgres: *//p' '$(ROLLOUT_STATE)' 2>/dev/null),$(if $(wildcard $(ROLLOUT_STATE)),statefulset))
BACKEND = $(or $(POSTGRES),$(RECORDED_POSTGRES),statefulset)
CNPG_DIR = $(DEPLOY_DIR)/overlays/cloudnativepg
POSTGRES_BACKEND = DRY_RUN=$(DRY_RUN) NAMESPACE=$(NAMESPACE) INGRESS='$(INGRESS)' POSTGRES='$(POSTGRES)' ROLLOUT_STATE='$(ROLLOUT_STATE)' DEPLOY_DIR='$(DEPLOY_DIR)' \
  BACKUP_DESTINATION='$(BACKUP_DESTINATION)' BACKUP_ENDPOINT_URL='$(BACKUP_ENDPOINT_URL)' npx tsx scripts/deploy/postgres-backend.ts
ROLLOUT = DRY_RUN=$(DRY_RUN) IMAGE='$(GIVEN_IMAGE)' VERSION='$(VERSION)' NAMESPACE=$(NAMESPACE) INGRESS='$(INGRESS)' POSTGRES='$(POSTGRES)' \
  ROLLOUT_STATE='$(ROLLOUT_STATE)' DEPLOY_DIR='$(DEPLOY_DIR)' TRUSTED_PROXY_CIDRS='$(TRUSTED_PROXY_CIDRS)' npx tsx scripts/deploy/rollout.ts
# Knative Eventing's webhook refuses an EventPolicy while its authentication-oidc feature is off: resources
# labelled so are applied only when it is on.
NEEDS_OIDC := accounts.knative.dev/requires-feature=authentication-oidc

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: help install dev build migrate admin-grant lint typecheck test services browser bench profile manifests image push secrets ingress deploy canary promote rollback contract status migrate-to-cloudnativepg

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: node_modules/.installed ## Install dependencies (npm ci) when missing or stale

dev: install ## Run the whole system locally: embedded Postgres, every function, gateway on :8080
	npm start

build: install ## Bundle every function into dist/
	npm run build

migrate: install ## Apply migrations (DATABASE_URL, or the running local system)
	npm run migrate -- up

admin-grant: install ## Make a user an admin: make admin-grant EMAIL=someone@example.com
	@test -n "$(EMAIL)" || { echo "usage: make admin-grant EMAIL=someone@example.com"; exit 2; }
	npm run admin:grant -- "$(EMAIL)"

lint: install
	npm run lint

typecheck: install
	npm run typecheck

services: ## Start the Postgres the tests use when it is not answering; install Debian's PgBouncer, which the tests start in front of it
	@scripts/ops/ensure-services.sh
	@scripts/ops/ensure-debian-package.sh /usr/sbin/pgbouncer pgbouncer

browser: ## Install Debian's Chromium for the browser tests when /usr/bin/chromium is missing
	@scripts/ops/ensure-debian-package.sh /usr/bin/chromium chromium

test: install services browser ## Lint, typecheck and run every test
	npm run lint
	npm run typecheck
	npm test

bench: install services ## Each function against its peers in one run: req/s, p50/p99, cold start, memory, sign-in vs bcrypt (installs wrk)
	@scripts/ops/ensure-debian-package.sh wrk wrk
	npm run bench

profile: install services ## Where a function's busy time goes under load: make profile FN=users-get (or users-list)
	@scripts/ops/ensure-debian-package.sh wrk wrk
	npm run profile -- $(or $(FN),users-get)

manifests: install ## Regenerate knative/, eventing/ and gitops/ from the inventory (commit the result)
	npm run manifests

image: ## Build the image: make image IMAGE=registry/name VERSION=1.2.3
	@test "$(VERSION)" != latest || { echo "VERSION must be a version, never latest"; exit 2; }
	$(RUN) docker build --tag $(IMAGE):$(VERSION) .

push: ## Push the image built by make image
	@test "$(VERSION)" != latest || { echo "VERSION must be a version, never latest"; exit 2; }
	$(RUN) docker push $(IMAGE):$(VERSION)

secrets: ## Create or update the Secrets from the environment, for POSTGRES or the recorded backend (see docs/deploying.md)
	@backend=$(if $(POSTGRES_RESOLVED),$(POSTGRES),$$($(POSTGRES_BACKEND) resolve)) && DRY_RUN=$(DRY_RUN) NAMESPACE=$(NAMESPACE) POSTGRES=$$backend scripts/deploy/create-secrets.sh

ingress: install ## Patch the ingress (INGRESS) so its Envoy appends the client's real address to X-Forwarded-For (see docs/deploying.md)
	@$(ROLLOUT) ingress

deploy: install ## Full rollout of VERSION with TRUSTED_PROXY_CIDRS (every function, all traffic; refused while a canary runs): namespace, network policies, ingress settings, secrets, client addresses, Postgres, expand migrations, eventing, services; recorded once every Service is Ready
	@rm -rf $(DEPLOY_DIR) && $(if $(filter cloudnativepg,$(BACKEND)),$(POSTGRES_BACKEND) prepare,mkdir -p $(DEPLOY_DIR) && cp -r knative/namespace knative/postgres $(DEPLOY_DIR)/) && $(ROLLOUT) deploy
	$(RUN) kubectl apply -k $(DEPLOY_DIR)/namespace
	$(RUN) kubectl apply -k $(if $(filter cloudnativepg,$(BACKEND)),$(CNPG_DIR)/network,$(DEPLOY_DIR)/network)
	@$(ROLLOUT) ingress
	@$(MAKE) --no-print-directory secrets POSTGRES=$(BACKEND) POSTGRES_RESOLVED=1
	@$(ROLLOUT) secrets-version
	$(RUN) kubectl apply -k $(DEPLOY_DIR)/client-addresses
ifeq ($(BACKEND),cloudnativepg)
	$(RUN) kubectl apply -k $(CNPG_DIR)/postgres
	$(RUN) kubectl --namespace $(NAMESPACE) wait --for=condition=Ready --timeout=600s cluster/accounts-db
	$(RUN) kubectl --namespace $(NAMESPACE) rollout status deployment/accounts-db-pooler --timeout=300s
else
	$(RUN) kubectl apply -k $(DEPLOY_DIR)/postgres
	$(RUN) kubectl --namespace $(NAMESPACE) rollout status statefulset/accounts-postgres --timeout=300s
endif
	$(RUN) kubectl apply -k $(DEPLOY_DIR)/migrate
	$(RUN) kubectl --namespace $(NAMESPACE) wait --for=condition=complete --timeout=300s job -l app.kubernetes.io/name=accounts-migrate,app.kubernetes.io/version=$(VERSION)
	$(RUN) kubectl apply -k eventing --selector $(subst =,!=,$(NEEDS_OIDC))
	@if [ "$(DRY_RUN)" = 1 ] || [ "$$(kubectl get configmap config-features --namespace knative-eventing -o jsonpath='{.data.authentication-oidc}' 2>/dev/null)" = enabled ]; then \
	  echo "kubectl apply -k eventing --selector $(NEEDS_OIDC)$(if $(filter 1,$(DRY_RUN)),   # only where knative-eventing's config-features sets authentication-oidc: enabled)"; \
	  $(if $(filter 1,$(DRY_RUN)),:,kubectl apply -k eventing --selector $(NEEDS_OIDC)); \
	else echo "authentication-oidc is off in knative-eventing: the EventPolicy in eventing/ is left out (see docs/deploying.md)"; fi
	$(RUN) kubectl --namespace $(NAMESPACE) wait --for=condition=Ready --timeout=300s broker/accounts-events
	$(RUN) kubectl apply -k $(DEPLOY_DIR)/services
	$(RUN) kubectl wait --for=condition=Ready --timeout=300s ksvc -l app.kubernetes.io/part-of=knative-accounts --namespace $(NAMESPACE)
	@$(ROLLOUT) record

# The order of a release: make canary runs the new version's expand migrations before its revision takes
# traffic; make contract runs the contract migrations only after every function is promoted to one version.
canary: install ## Expand migrations of VERSION, then PERCENT% of FN's traffic to it (tag canary): make canary FN=users-get PERCENT=10 VERSION=0.2.0 [SET_ENV="NAME=value …"]
	@SET_ENV='$(subst ','\'',$(SET_ENV))' $(ROLLOUT) canary "$(FN)" "$(PERCENT)"

promote: install ## All of FN's traffic to the recorded canary revision, now the stable one (a traffic patch, no new revision): make promote FN=users-get
	@$(ROLLOUT) promote "$(FN)"

rollback: install ## FN's canary gets no traffic, all of it back to the recorded stable revision (a traffic patch, no new revision): make rollback FN=users-get
	@$(ROLLOUT) rollback "$(FN)"

contract: install ## Last step of a release, after every function is promoted to one version: the contract migrations (refused before)
	@$(ROLLOUT) contract

migrate-to-cloudnativepg: install ## Move the data from the StatefulSet to CloudNativePG under a write freeze: make migrate-to-cloudnativepg BACKUP_DESTINATION=s3://bucket/path (docs/deploying.md)
	@rm -rf $(DEPLOY_DIR) && $(POSTGRES_BACKEND) migrate-to-cloudnativepg

status: install ## Every service's revisions and traffic, as the cluster has them
	@DRY_RUN=$(DRY_RUN) NAMESPACE=$(NAMESPACE) npx tsx scripts/deploy/rollout.ts status

.PHONY: replay-dead-letters
replay-dead-letters: install ## Send the dead letters back through the broker, once each: make replay-dead-letters [TYPE=user_login_event] [SINCE=2026-12-03T10:00:00Z] [LIMIT=100] [DRY_RUN=1]
	npm run replay-dead-letters -- $(if $(TYPE),--type "$(TYPE)") $(if $(SINCE),--since "$(SINCE)") $(if $(LIMIT),--limit "$(LIMIT)") $(if $(filter 1,$(DRY_RUN)),--dry-run)
