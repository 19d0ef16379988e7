# Container images and the containerised stack (deploy/containers/README.md); included by
# the root Makefile.
IMAGE_TAG ?= dev
export IMAGE_TAG

.PHONY: images containers-up containers-down containers-status test-containers

images:
	deploy/containers/build-images.sh

containers-up: install
	.venv/bin/wasmgrid containers up

containers-down: install
	.venv/bin/wasmgrid containers down

containers-status: install
	.venv/bin/wasmgrid containers status

test-containers: install images
	deploy/containers/test-containers.sh
