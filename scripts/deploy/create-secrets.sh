#!/usr/bin/env bash
# Creates or updates the Secrets of knative/secrets/example-secrets.yaml from the environment.
# Needs: POSTGRES_PASSWORD, USERS_DB_PASSWORD, CREDENTIALS_DB_PASSWORD, AUTH_DB_PASSWORD, NOTIFY_DB_PASSWORD,
# JWT_PRIVATE_KEY_FILE, JWT_PUBLIC_KEY_FILE, SMTP_URL, EVENT_SEAL_KEY (openssl rand -base64 32);
# optional JWT_KEY_ID (default accounts-1).
# POSTGRES=cloudnativepg (knative/overlays/cloudnativepg): the functions' URLs name the Pooler's Service,
# there is no accounts-postgres Secret (no superuser: the migration Job reads the Cluster's own
# accounts-db-app) and so no POSTGRES_PASSWORD, and the backups' S3 credentials are needed:
# BACKUP_S3_ACCESS_KEY_ID, BACKUP_S3_SECRET_ACCESS_KEY. DATABASE_HOST (host:port) puts another host
# into the functions' URLs, with either.
# BACKUP_SECRET_ONLY=1 (with cloudnativepg) creates the backups' Secret alone: make migrate-to-cloudnativepg
# needs it before the Cluster exists, while the functions' Secrets still name the StatefulSet.
# With DRY_RUN=1 it prints the Secrets' names and keys, never their values.
set -euo pipefail
namespace=${NAMESPACE:-accounts}
case ${POSTGRES:-statefulset} in
  statefulset)
    host=${DATABASE_HOST:-accounts-postgres.${namespace}.svc.cluster.local:5432}
    needed=(POSTGRES_PASSWORD) ;;
  cloudnativepg)
    # The Pooler's Service is named after the Pooler (knative/overlays/cloudnativepg/postgres/210-pooler.yaml).
    host=${DATABASE_HOST:-accounts-db-pooler.${namespace}.svc.cluster.local:5432}
    needed=() ;;
  *)
    echo "make secrets: POSTGRES must be statefulset or cloudnativepg, not ${POSTGRES}" >&2
    exit 2 ;;
esac
backup_only=${BACKUP_SECRET_ONLY:-}
if [ -n "$backup_only" ] && [ "${POSTGRES:-statefulset}" != cloudnativepg ]; then
  echo "make secrets: BACKUP_SECRET_ONLY needs POSTGRES=cloudnativepg" >&2
  exit 2
fi
[ -n "$backup_only" ] || needed+=(USERS_DB_PASSWORD CREDENTIALS_DB_PASSWORD AUTH_DB_PASSWORD NOTIFY_DB_PASSWORD JWT_PRIVATE_KEY_FILE JWT_PUBLIC_KEY_FILE SMTP_URL EVENT_SEAL_KEY)
[ "${POSTGRES:-statefulset}" = statefulset ] || needed+=(BACKUP_S3_ACCESS_KEY_ID BACKUP_S3_SECRET_ACCESS_KEY)

missing=()
for name in "${needed[@]}"; do
  [ -n "${!name:-}" ] || missing+=("$name")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "make secrets: set ${missing[*]}" >&2
  exit 2
fi

apply() { # name, then --from-literal/--from-file arguments
  local name=$1; shift
  if [ "${DRY_RUN:-}" = 1 ]; then
    echo "kubectl create secret generic $name --namespace $namespace $(printf '%s\n' "$@" | sed -E 's/^(--from-[a-z]+=[^=]+)=.*/\1=…/' | tr '\n' ' ')| kubectl apply -f -"
    return
  fi
  kubectl create secret generic "$name" --namespace "$namespace" "$@" --dry-run=client -o yaml | kubectl apply -f -
}

# A password inside a URL is percent-encoded: a generated one (base64: / + =) would break the URL.
urlencode() {
  local LC_ALL=C text=$1 out='' char i
  for ((i = 0; i < ${#text}; i++)); do
    char=${text:i:1}
    case $char in
      [A-Za-z0-9._~-]) out+=$char ;;
      *) printf -v char '%%%02X' "'$char"; out+=$char ;;
    esac
  done
  printf '%s' "$out"
}

if [ "${POSTGRES:-statefulset}" = statefulset ]; then
  apply accounts-postgres --from-literal=password="$POSTGRES_PASSWORD" \
    --from-literal=url="postgres://postgres:$(urlencode "$POSTGRES_PASSWORD")@${host}/accounts"
else
  # Keys as the ObjectStore (knative/overlays/cloudnativepg/postgres/100-object-store.yaml) reads them.
  apply accounts-db-backup-s3 --from-literal=access-key-id="$BACKUP_S3_ACCESS_KEY_ID" \
    --from-literal=secret-access-key="$BACKUP_S3_SECRET_ACCESS_KEY"
  [ -z "$backup_only" ] || exit 0
fi
# One login per domain, and one for the users functions that check passwords (migrations/logins.ts).
for login in users credentials auth notify; do
  var="$(echo "$login" | tr a-z A-Z)_DB_PASSWORD"
  apply "accounts-db-$login" --from-literal=password="${!var}" \
    --from-literal=url="postgres://${login}_fn:$(urlencode "${!var}")@${host}/accounts"
done
apply accounts-jwt --from-file=private-key="$JWT_PRIVATE_KEY_FILE" --from-file=public-key="$JWT_PUBLIC_KEY_FILE" \
  --from-literal=key-id="${JWT_KEY_ID:-accounts-1}"
apply accounts-smtp --from-literal=url="$SMTP_URL"
apply accounts-event-seal --from-literal=key="$EVENT_SEAL_KEY"
