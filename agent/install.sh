#!/usr/bin/env bash
# Installs the fleetcron agent on an EC2 instance; EC2 user-data runs it:
#   install.sh <agent binary URL or path> <env file contents...>
# The CDK construct AgentFleet renders the user-data that calls it, with the
# binary from an S3 asset and the environment of the deployment.
set -euo pipefail

src=${1:?usage: install.sh <agent binary s3:// URL or local path>}
run_user=${FLEETCRON_RUN_USER:-fleetcron}

# The unprivileged user jobs run as, unless an admin asked for root.
if ! id "$run_user" >/dev/null 2>&1; then
  useradd --system --create-home --shell /sbin/nologin "$run_user"
fi

tmp=$(mktemp)
case "$src" in
  s3://*) aws s3 cp --only-show-errors "$src" "$tmp" ;;
  *) cp "$src" "$tmp" ;;
esac
install -m 0755 -o root -g root "$tmp" /usr/local/bin/fleetcron-agent
rm -f "$tmp"

install -d -m 0755 /etc/fleetcron
if [ ! -f /etc/fleetcron/agent.env ]; then
  umask 077
  # The remaining arguments are KEY=VALUE lines of the agent's environment.
  shift
  printf '%s\n' "$@" "FLEETCRON_RUN_USER=$run_user" > /etc/fleetcron/agent.env
fi

here=$(dirname "$0")
install -m 0644 "$here/fleetcron-agent.service" /etc/systemd/system/fleetcron-agent.service
systemctl daemon-reload
systemctl enable --now fleetcron-agent.service
echo "fleetcron agent installed and started"
