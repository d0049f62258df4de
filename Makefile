# The front door. `make up` runs the system, `make test` passes the tests; both set up what is missing.
SHELL := /bin/bash
export PYTHONUNBUFFERED := 1
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
ASYNCAPI_PARSER := tools/asyncapi/node_modules/.package-lock.json

.PHONY: up down status logs test unit-test contract-test avro-oracle browser postgresql provision dead-letters operator mail chaos repartition bench scaleout-test clean distclean schema-review asyncapi-check lint codegen

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "): install it or run make PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

# The shape of the local stack: BROKERS=3 runs three KRaft brokers (replication 3, min ISR 2),
# WORKERS=N runs N invoice generators and N score calculators, DASHBOARDS=N that many dashboards,
# DB=postgres a PostgreSQL server (Debian's) for the dashboards' database instead of their SQLite file,
# TRACING=1 the services traced into a trace viewer (Zipkin, fetched from Maven Central like Kafka).
export BROKERS WORKERS DASHBOARDS DB TRACING
ifeq ($(BROKERS),3)
export KAFKA_BOOTSTRAP_SERVERS ?= 127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096
endif

# Clients of the stack connect as a principal: `make <target> PRINCIPAL=<name>` (default admin) takes its
# settings from var/credentials/<name>.env, which `make up` writes (nothing is read when it is absent).
CREDENTIALS ?= var/credentials
PRINCIPAL ?= admin
CONNECT = set -a; [ ! -f $(CREDENTIALS)/$(PRINCIPAL).env ] || . $(CREDENTIALS)/$(PRINCIPAL).env; set +a;

# STACK=compose runs the same system in containers (compose/); BROKERS=3 adds two more Kafka nodes there.
STACK ?= local
COMPOSE = docker compose -f compose/compose.yaml $(if $(filter 3,$(BROKERS)),-f compose/compose.brokers3.yaml)

ifeq ($(STACK),compose)
up:
	$(COMPOSE) up --build --detach --wait --wait-timeout 600
down:
	$(COMPOSE) down --remove-orphans
status:
	$(COMPOSE) ps --all
logs:
	$(COMPOSE) logs --tail 40 $(C)
clean:
	$(COMPOSE) down --remove-orphans --volumes
else
up: $(VENV)/.installed $(if $(filter postgres,$(DB)),postgresql)
	@$(PY) -m stack up
down: $(VENV)/.installed
	@$(PY) -m stack down
status: $(VENV)/.installed
	@$(PY) -m stack status
logs: $(VENV)/.installed
	@$(PY) -m stack logs $(C)
clean: down
	rm -rf var
endif

provision: $(VENV)/.installed
	@$(CONNECT) $(PY) -m contracts provision

# make dead-letters [SOURCE=<topic>]: what consumers set aside; replay with .venv/bin/dead-letters replay
dead-letters: $(VENV)/.installed
	@$(CONNECT) $(PY) -m messaging.deadletters list $(if $(SOURCE),--source $(SOURCE))

# make operator EMAIL=<address> [REVOKE=1]: give a verified account the operator view (or take it back), each change
# audited in the database; make operator LIST=1 prints them all. Over the stack's PostgreSQL with DB=postgres.
operator: $(VENV)/.installed
	@$(if $(filter postgres,$(DB)),DATABASE_URL=$$($(PY) -c 'from stack import postgres; print(postgres.url())')) \
	$(PY) -m services.dashboard.operators $(if $(LIST),list,$(if $(REVOKE),revoke,grant) "$(EMAIL)")

# make mail: the newest messages the local stack's mail catcher kept (in var/mail/, one .eml file each)
mail: $(VENV)/.installed
	@$(PY) -m stack.mail

# make schema-review [BASE=<git ref>] [FORMAT=markdown|json|github|sarif]: explain every schema change since BASE
# (default: the previous commit, fetched when a shallow clone lacks it), printed in FORMAT (default: markdown)
schema-review: $(VENV)/.installed
	@$(PY) -m contracts review --base $(or $(BASE),HEAD~1) --format $(or $(FORMAT),markdown)

# Unit tests need nothing running; everything else runs against the real broker, registry and services.
test: up browser postgresql $(ASYNCAPI_PARSER)
	$(CONNECT) $(PYTEST) --ignore=tests/scaleout

# The browser test drives Debian's chromium through Playwright; Playwright's own browser download
# is never used (it cannot work offline).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The dashboard's database tests run on SQLite and on PostgreSQL, a server of their own from Debian's package
# (which `make up DB=postgres` runs too); POSTGRES_BIN names another installation's bin folder.
postgresql:
	@[ -n "$(POSTGRES_BIN)" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql for the database tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

unit-test: $(VENV)/.installed postgresql
	$(PYTEST) tests/unit tests/compose

# DEEP=1 runs the differential test against Avro Java with its deep profile (100,000 pairs) instead of the fast one.
contract-test: up $(ASYNCAPI_PARSER) avro-oracle
	$(CONNECT) $(if $(DEEP),ORACLE_PROFILE=deep) $(PYTEST) tests/contract

# Avro Java's compatibility checker as the contract tests' oracle: the jar fetched from Maven Central with Maven into
# .cache/, tools/avro-oracle/AvroOracle.java compiled against it (the tests build it too when it is missing).
avro-oracle: $(VENV)/.installed
	@$(PY) -m tests.contract.oracle >/dev/null

# The AsyncAPI project's own parser, exactly as tools/asyncapi/package-lock.json pins it (install scripts
# are not run: none is needed, and one only reports usage to a third party).
$(ASYNCAPI_PARSER): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@command -v npm >/dev/null || { echo "error: Node.js and npm are needed for the AsyncAPI parser: install them (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix tools/asyncapi --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# Write the AsyncAPI document (results/asyncapi.json) and validate it with the AsyncAPI parser.
asyncapi-check: $(VENV)/.installed $(ASYNCAPI_PARSER)
	@mkdir -p results
	$(CONNECT) $(PY) -m contracts asyncapi -o results/asyncapi.json
	node tools/asyncapi/validate.mjs results/asyncapi.json

# ruff over the whole tree; contracts/records.py as `make codegen` writes it; mypy over contracts/, messaging/ and
# services/, strict on all of them (pyproject.toml says which rules).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m contracts codegen --check
	$(VENV)/bin/mypy contracts messaging services

# Write contracts/records.py: a TypedDict per record of the latest schemas and a typed binding per topic.
codegen: $(VENV)/.installed
	@$(PY) -m contracts codegen

# Measurements against baselines taken in the same run; results/bench.{json,md} and plots. The stack runs two
# dashboards for them unless DASHBOARDS says otherwise; BENCH_POSTGRES_URL=postgresql://... (a DATABASE_URL) adds the
# latency on two dashboards of the bench's own over that database.
bench: export DASHBOARDS := $(or $(DASHBOARDS),2)
bench: up $(VENV)/.bench bench-tools
	$(CONNECT) VEGETA=$(abspath $(VEGETA)) $(PY) -m bench

$(VENV)/.bench: pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,bench]'
	@touch $@

# vegeta, the HTTP load generator the dashboard's measurements drive: a Go program, so that the generator's own cost
# stays small beside the servers' on the same cores. Built at this version from the Go module proxy into .cache/tools.
VEGETA_VERSION := v12.13.0
VEGETA := .cache/tools/vegeta-$(VEGETA_VERSION)/vegeta
.PHONY: bench-tools
bench-tools: $(VEGETA)

$(VEGETA):
	@command -v go >/dev/null || { echo "error: Go 1.22 or newer is needed to build vegeta for make bench: install it" >&2; exit 1; }
	GOBIN=$(abspath $(dir $@)) go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

# outside-client, a third-party-style producer (librdkafka's default partitioner, Confluent's Avro serializer) that
# writes requests to the topics: a Go program of its own in tools/outside-client, built with CGO into .cache/tools.
OUTSIDE_CLIENT := .cache/tools/outside-client/outside-client
.PHONY: outside-client
outside-client: $(OUTSIDE_CLIENT)

$(OUTSIDE_CLIENT): tools/outside-client/*.go tools/outside-client/go.mod tools/outside-client/go.sum
	@command -v go >/dev/null || { echo "error: Go 1.22 or newer is needed to build tools/outside-client: install it" >&2; exit 1; }
	cd tools/outside-client && CGO_ENABLED=1 go build -o $(abspath $@) .

# The scale-out tests need the bigger shape: three brokers, two of each worker, two dashboards.
scaleout-test: $(VENV)/.installed
	$(MAKE) down
	$(MAKE) up BROKERS=3 WORKERS=2 DASHBOARDS=2
	$(CONNECT) BROKERS=3 $(PYTEST) tests/scaleout

# Faults injected into the running stack under steady load; the table goes to results/faults.json.
# Grow a co-partitioned group (contracts/topics.toml) to PARTITIONS, re-homing its users' state while the workers run:
# prints the plan; APPLY=1 carries it out (messaging/repartition.py; README "Capacity").
repartition: $(VENV)/.installed
	@test -n "$(GROUP)" -a -n "$(PARTITIONS)" || { echo "usage: make repartition GROUP=<co-partitioned group> PARTITIONS=<count> [APPLY=1]"; exit 2; }
	$(CONNECT) $(PY) -m messaging.repartition $(GROUP) $(PARTITIONS) $(if $(APPLY),--apply)

# CHAOS_ONLY=<text> runs only the scenarios whose name contains it (results/faults-some.json).
chaos: up
	$(CONNECT) $(PY) -m chaos

distclean: clean
	rm -rf .cache $(VENV) tools/asyncapi/node_modules
