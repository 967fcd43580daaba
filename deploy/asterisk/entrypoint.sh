#!/bin/sh
# Writes secrets from the environment into files the configs #include, then runs Asterisk.
set -eu
: "${AMI_SECRET:?AMI_SECRET must be set}"
umask 077
# /etc/asterisk is mounted read-only: the configs #include these from /tmp/cc-secrets.
mkdir -p /tmp/cc-secrets
printf 'secret = %s\n' "$AMI_SECRET" > /tmp/cc-secrets/manager_secret.conf
printf 'password = %s\n' "${OPERATOR_PHONE_SECRET:-change-me}" > /tmp/cc-secrets/pjsip_secrets.conf
# The image already runs as its unprivileged asterisk user (uid 1000).
exec asterisk -f
