// Package localstack holds fleetcron's LocalStack setup (docker-compose.yml,
// deploy.sh, e2e.sh and the e2e program) and the checks make test runs on
// it here, where neither Docker nor a LocalStack auth token is available:
// the compose file parses and names what fleetcron uses, and the scripts
// pass bash -n and shellcheck.
package localstack
