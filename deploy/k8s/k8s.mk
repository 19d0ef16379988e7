# Kubernetes manifests, the pipeline's checks and scripts (included by the root Makefile).
K8S_DIR := deploy/k8s
WORKFLOW := .github/workflows/ci-cd.yml

.PHONY: deploy-check k8s-render audit bench-compare

# Offline and quick: generated files fresh, every overlay renders and validates against
# the Kubernetes schemas, the workflow against GitHub's schema, and the manifest rules.
deploy-check: install
	$(PY) scripts/k8s_generate.py --check
	$(PY) scripts/k8s_validate.py
	.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOW)
	$(PY) -m pytest $(K8S_DIR)/tests -q -p no:cacheprovider

# Print one overlay as the cluster would get it: make k8s-render OVERLAY=prod
OVERLAY ?= dev
k8s-render:
	@kubectl kustomize $(K8S_DIR)/overlays/$(OVERLAY)

# Known vulnerabilities in the locked dependencies (pip-audit, PyPI's advisory data),
# licenses against the allow-list, and the engine inside wasmtime-py.
audit: install
	$(UV) export --frozen --all-packages --all-groups --no-emit-workspace --no-hashes \
		-o .venv/requirements-audit.txt >/dev/null
	.venv/bin/pip-audit --strict --disable-pip --no-deps -r .venv/requirements-audit.txt
	$(PY) scripts/license_check.py
	$(PY) scripts/wasmtime_advisories.py

# Compare bench/results/*.json (from make bench) with the stored reference.
bench-compare: install
	$(PY) scripts/bench_compare.py

# --- used by the pipeline's release jobs (.github/workflows/ci-cd.yml) ----------------
SERVICES := gateway runtime marketplace cache monitor
REGISTRY ?=
TAG ?=

.PHONY: push-images deploy release require-release

require-release:
	@test -n "$(REGISTRY)" -a -n "$(TAG)" || { echo "set REGISTRY and TAG" >&2; exit 2; }

# Tag the images `make images` built (localhost/wasmgrid/<svc>:dev) and push them.
push-images: require-release
	@for svc in $(SERVICES); do \
		podman tag localhost/wasmgrid/$$svc:dev $(REGISTRY)/wasmgrid/$$svc:$(TAG) && \
		podman push $(REGISTRY)/wasmgrid/$$svc:$(TAG) || exit 1; \
	done

# Apply an overlay with the release's images to the current kubectl context; wait for
# every Deployment, roll back what changed on failure (scripts/rollout.py).
ROLLOUT_TIMEOUT ?= 300s
deploy: install require-release
	$(PY) scripts/rollout.py $(K8S_DIR)/overlays/$(OVERLAY) \
		--registry $(REGISTRY) --tag $(TAG) --timeout $(ROLLOUT_TIMEOUT)

# A GitHub release of TAG with generated notes and the prod manifests, with the release's
# images, attached.
release: install require-release
	$(PY) scripts/rollout.py $(K8S_DIR)/overlays/prod --registry $(REGISTRY) --tag $(TAG) \
		--print > wasmgrid-$(TAG)-kubernetes.yaml
	gh release create "$(TAG)" --verify-tag --generate-notes wasmgrid-$(TAG)-kubernetes.yaml
